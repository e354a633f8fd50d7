"""The one writer of ``bench/results/<name>.json``: a bench's figures with the command that made
them, the host (ComfyUI version when one is loaded), torch, the device and the date, so every
figure the docs quote can be traced to a committed file (tests/core/test_docs_results.py).

Machine folders never reach the file: the pack folder is written ``<pack>``, ``COMFYUI_PATH``
``/path/to/ComfyUI``, the Python running the bench ``python``, and any other absolute path
``/path/to/<its last part>``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]
RESULTS = PACK_ROOT / "bench" / "results"
_ABSOLUTE = re.compile(r"(?<![\w.:/~<>-])/(?!path/to/)[^\s=\"',;)\]]+")


def default_path(script: str) -> Path:
    """``bench/results/<script stem>.json``: where a bench's ``--results`` points by default."""
    return RESULTS / (Path(script).stem + ".json")


def add_results_option(parser, script: str) -> None:
    """The ``--results`` option of a bench that always writes its figures (default: ``default_path``)."""
    parser.add_argument("--results", default=str(default_path(script)), help="figures as JSON (default %(default)s)")


def results_only_cli(doc: str, script: str) -> tuple[str, "Printed"]:
    """For a bench whose one option is ``--results``: the path it names, and a ``Printed`` that
    keeps from now on what the bench prints."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_results_option(parser, script)
    return parser.parse_args().results, Printed()


def results_path(given: str | None, script: str, full: bool) -> str | Path | None:
    """Where a bench writes its figures: ``given`` (its ``--results``) when set, else the default
    file for a full run, else nowhere (quick and partial runs must not replace committed figures)."""
    return given or (default_path(script) if full else None)


def _placeholder(match: re.Match) -> str:
    return "/path/to/" + Path(match.group(0)).name


def clean(text: str) -> str:
    """``text`` with this machine's folders replaced by placeholders."""
    comfy = os.environ.get("COMFYUI_PATH", "").rstrip("/")
    if comfy:
        text = text.replace(comfy, "/path/to/ComfyUI")
    text = text.replace(sys.executable, "python").replace(str(PACK_ROOT), "<pack>")
    return _ABSOLUTE.sub(_placeholder, text)


def command(argv: list[str] | None = None) -> str:
    """The command as run (``argv`` defaults to ``sys.argv``), with placeholders for folders."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv else Path("?")
    try:
        script_text = str(script.relative_to(PACK_ROOT))
    except ValueError:
        script_text = str(script)
    parts = ["python", script_text] + [str(a) for a in argv[1:]]
    prefix = "COMFYUI_PATH=/path/to/ComfyUI " if os.environ.get("COMFYUI_PATH") else ""
    return prefix + clean(" ".join(parts))


def host_version(loaded: bool | None = None) -> str | None:
    """The ComfyUI version of ``COMFYUI_PATH`` when a host is loaded (``loaded``; None: ``comfy`` is
    imported in this process), else None."""
    root = os.environ.get("COMFYUI_PATH")
    if not root or not (("comfy" in sys.modules) if loaded is None else loaded):
        return None
    match = re.search(r'__version__\s*=\s*"([^"]+)"',
                      (Path(root) / "comfyui_version.py").read_text(encoding="utf-8"))
    return match.group(1) if match else "unknown"


def device_note() -> str:
    torch = sys.modules.get("torch")
    cuda = torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()
    if cuda:
        return f"cuda: {torch.cuda.get_device_name()}"
    threads = f", {torch.get_num_threads()} torch thread(s)" if torch is not None else ""
    return f"cpu: {platform.machine()}, {os.cpu_count()} cores{threads}"


class Printed:
    """Keeps a copy of what the bench prints (``sys.stdout`` still gets every line), so the
    results file holds the printed report as well as the figures picked out of it."""

    def __init__(self):
        self.lines: list[str] = []
        self._partial = ""
        self._stdout = sys.stdout
        sys.stdout = self

    def write(self, text: str) -> int:
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        self.lines += done
        return self._stdout.write(text)

    def flush(self) -> None:
        self._stdout.flush()

    def __getattr__(self, name):
        return getattr(self._stdout, name)

    def stop(self) -> list[str]:
        """Restore ``sys.stdout``; the lines printed since the start."""
        sys.stdout = self._stdout
        return self.lines + ([self._partial] if self._partial else [])


def write_results(path: str | os.PathLike | None, figures: dict, argv: list[str] | None = None,
                  printed: Printed | None = None, host: bool | None = None) -> Path | None:
    """Write ``figures`` and how they were made to ``path`` (JSON); ``None`` writes nothing.
    ``printed``: also keep the report the bench printed (and stop copying it); ``host``: whether a
    ComfyUI host ran the figures (None: whether this process imported ``comfy``)."""
    lines = printed.stop() if printed is not None else None
    if path is None:
        return None
    torch = sys.modules.get("torch")
    record = {
        "command": command(argv),
        "host": host_version(host),
        "torch": torch.__version__ if torch is not None else None,
        "device": device_note(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "figures": figures,
    }
    if lines is not None:
        record["printed"] = lines
    text = clean(json.dumps(record, indent=1, default=str))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {clean(str(path))}", flush=True)
    return path
