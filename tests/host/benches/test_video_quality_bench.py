"""bench/quality/video_quality.py stays runnable: its smoke mode samples the video demo through ComfyUI,
scores every point, and writes the table, the Markdown page, the filmstrip and (with matplotlib) the
plot, with every point at the model-call count its method makes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn", reason="scikit-learn (bench dependency) is not installed in this Python")

ROOT = Path(__file__).resolve().parents[3]
if not (ROOT / "nodes" / "demos" / "video" / "video_model.py").is_file():
    pytest.skip("the video demo model (nodes/demos/video/video_model.py) is not in this checkout",
                allow_module_level=True)
MARKERS = ("<!-- video_quality.py: table start -->", "<!-- video_quality.py: table end -->")


def test_smoke_run_scores_every_point_and_writes_its_outputs(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# Page\n\nprose kept\n\n{MARKERS[0]}\nold table\n{MARKERS[1]}\n\nmore prose\n", encoding="utf-8")
    has_plot = importlib.util.find_spec("matplotlib") is not None
    plot = tmp_path / "plot.png" if has_plot else ""
    cmd = [sys.executable, str(ROOT / "bench/quality/video_quality.py"), "--quick", "--clips", "10", "--threads", "1",
           "--state", str(tmp_path / "state.pt"), "--plot", str(plot), "--markdown", str(page),
           "--filmstrip", str(tmp_path / "strip.webp")]
    done = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    state = torch.load(tmp_path / "state.pt", weights_only=False)
    points = set(state["points"])
    # nested 2x3: an outer step every 3 calls; 3x2: every 2; the 6-step preview run scored at the
    # nested points and plain k; plain runs of 2, 3 and 6 steps (6 is the preview run's final clip).
    # Both outer steps by default: the paper's (ddim) and the fresh one.
    for suffix in ("", " fresh"):
        assert {n for m, n in points if m == "nested 2x3" + suffix} == {3, 6}
        assert {n for m, n in points if m == "nested 3x2" + suffix} == {2, 4, 6}
    assert {n for m, n in points if m == "plain k steps"} == {2, 3, 6}
    assert {n for m, n in points if m == "plain x0 preview"} == {2, 3, 4, 6}
    assert all(sum(len(p["digits"]) for p in parts) == 10 for parts in state["points"].values())
    for method in ("nested 2x3", "nested 3x2", "nested 2x3 fresh", "plain x0 preview", "plain k steps"):
        assert method in done.stdout

    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Page\n\nprose kept\n") and text.endswith("\n\nmore prose\n")
    assert "old table" not in text and text.count(MARKERS[0]) == 1
    assert "| 6 |" in text and "FD clips" in text and "bench/quality/video_quality.py" in text

    from PIL import Image

    for name in ("strip.webp", "strip.gif"):
        with Image.open(tmp_path / name) as strip:
            assert strip.n_frames == 8, "one animation frame per clip frame"
            first = strip.convert("L").tobytes()
            strip.seek(4)
            assert strip.convert("L").tobytes() != first, "the clips move"
    if has_plot:
        assert plot.stat().st_size > 1000
