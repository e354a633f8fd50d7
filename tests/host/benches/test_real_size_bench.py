"""bench/speed/real_size.py stays runnable: its --tiny smoke run (the same code paths on tiny configs of
ComfyUI's SD 1.5, SDXL and SD3 classes) prints a full table of finite figures.

The bench runs as a subprocess with this host's Python, as a user runs it; nothing about speed is
asserted, only that every figure is there and is a number.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

from host_env import COMFYUI_PATH, PACK_ROOT

# The figures the bench exists to report (bench/speed/real_size.py, docs/real-size.md).
COLUMNS = ["model", "weights", "latent", "NFE", "plain s", "nested s", "ratio wall", "ratio cpu", "s/call",
           "outside calls s",
           "plain peak MB", "nested-plain MB", "in latents", "latent2rgb ms", "TAESD ms", "TAESD/call %",
           "outer_step_images MB"]
MODELS = ["SD 1.5 UNet (tiny)", "SDXL UNet (tiny)", "SD3 MMDiT (tiny)"]
NUMBER = r"-?\d+(?:\.\d+)?"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_tiny_run_prints_every_column_with_finite_figures(tmp_path):
    out = tmp_path / "real_size.out"
    env = dict(os.environ, COMFYUI_PATH=COMFYUI_PATH)
    proc = subprocess.run([sys.executable, str(PACK_ROOT / "bench/speed/real_size.py"), "--tiny", "--out", str(out)],
                          cwd=PACK_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    table = text.split("# raw ")[0].strip()
    assert table in proc.stdout  # printed and written alike

    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert _cells(lines[0]) == COLUMNS
    rows = [dict(zip(COLUMNS, _cells(line))) for line in lines[2:]]
    assert [r["model"] for r in rows] == MODELS
    assert "non-finite" not in text

    for r in rows:
        for column in COLUMNS[3:]:
            numbers = [float(v) for v in re.findall(NUMBER, r[column])]
            assert numbers and all(math.isfinite(v) for v in numbers), (r["model"], column, r[column])
        plain_calls, nested_calls = (int(v) for v in r["NFE"].split(" / "))
        # Equal model calls, both equal to nfe_plan's count (else the cell names the plan), at least
        # one per outer step of the default 2 x 2 run.
        assert plain_calls == nested_calls >= 2
        assert "planned" not in r["NFE"]
