"""Rows of (method, NFE, measures), printed as one table format and plotted against NFE.

Shared by bench/quality/: quality_vs_nfe.py (the demo digits model), anytime_report.py (the exact
2-D mixture), video_quality.py, cache_effect.py and split_table.py, so the benches report in the
same shape. Needs torch; the plot needs matplotlib (bench only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class Row:
    method: str
    nfe: int
    values: dict = field(default_factory=dict)


def row_records(rows: list[Row]) -> list[dict]:
    """Rows as plain dicts, for a results file."""
    return [{"method": r.method, "nfe": r.nfe, **r.values} for r in rows]


@dataclass
class Measure:
    key: str
    header: str
    fmt: str = "{:.3f}"
    better: str = "higher"  # or "lower": only for the plot's axis label
    fraction: bool = False  # a value in [0, 1]: the plot's axis is fixed so small wiggles are not magnified


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows are samples), as in FID:
    |mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca^1/2 Cb Ca^1/2)^1/2), in float64 with symmetric square roots."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(ca)
    root_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(root_a @ cb @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + ca.trace() + cb.trace() - 2 * cross)


def format_table(rows: list[Row], measures: list[Measure]) -> str:
    """One line per (method, NFE), in the order given."""
    width = max([len("method")] + [len(r.method) for r in rows])
    head = f"{'method':<{width}} {'NFE':>4} " + " ".join(f"{m.header:>12}" for m in measures)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = " ".join(f"{(m.fmt.format(r.values[m.key]) if m.key in r.values else '-'):>12}" for m in measures)
        lines.append(f"{r.method:<{width}} {r.nfe:>4} {cells}")
    return "\n".join(lines)


def format_pivot(rows: list[Row], measure: Measure, nfes: list[int]) -> str:
    """A Markdown table of one measure: NFE down, methods across (for docs/benchmarks.md)."""
    methods = list(dict.fromkeys(r.method for r in rows))
    at = {(r.method, r.nfe): r.values.get(measure.key) for r in rows}
    lines = ["| NFE | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for n in nfes:
        cells = [measure.fmt.format(at[(m, n)]) if at.get((m, n)) is not None else "" for m in methods]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[Row], measures: list[Measure], path: Path, title: str, references: dict | None = None) -> Path:
    """One panel per measure, NFE on a log axis, one line per method; ``references`` maps a measure
    key to (value, label) drawn as a dashed horizontal line (e.g. real images against real images)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("the plot needs matplotlib, a bench-only dependency: <this python> -m pip install "
                         "matplotlib (see bench/README.md)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    methods = list(dict.fromkeys(r.method for r in rows))
    all_nfe = [r.nfe for r in rows]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.4), dpi=90)
    axes = [axes] if len(measures) == 1 else list(axes)
    for ax, m in zip(axes, measures):
        for method in methods:
            pts = sorted((r.nfe, r.values[m.key]) for r in rows if r.method == method and m.key in r.values)
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o" if len(pts) < 12 else ".", markersize=4, linewidth=1.2, label=method)
        if references and m.key in references:
            value, label = references[m.key]
            ax.axhline(value, color="grey", linestyle="--", linewidth=1, label=label)
        ax.set_xscale("log")
        shown = [r.values[m.key] for r in rows if m.key in r.values]
        if m.fraction:
            ax.set_ylim(0.9 if min(shown) >= 0.9 else 0.0, 1.005)
        elif min(shown) > 0 and max(shown) / min(shown) > 20:  # distances spanning decades
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
        ticks = [n for n in (1, 2, 4, 10, 20, 40, 100, 200, 400, 1000) if min(all_nfe) <= n <= max(all_nfe)]
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("model calls (NFE)")
        ax.set_ylabel(f"{m.header} ({m.better} is better)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
