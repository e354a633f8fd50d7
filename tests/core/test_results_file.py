"""bench/harness/results_file.py: the one writer of bench/results/<name>.json keeps this machine's
folders out of the file and records how the figures were made."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from harness import results_file  # noqa: E402


def test_clean_replaces_machine_folders(monkeypatch):
    monkeypatch.setenv("COMFYUI_PATH", "/opt/hosts/comfy-9")
    text = results_file.clean(f"cd {ROOT} && COMFYUI_PATH=/opt/hosts/comfy-9 {sys.executable} x --state /srv/a/b.pt "
                              "--plot /path/to/ComfyUI/x.png 3/4 " + str(ROOT / "bench" / "results"))
    assert text == "cd <pack> && COMFYUI_PATH=/path/to/ComfyUI python x --state /path/to/b.pt --plot " \
                   "/path/to/ComfyUI/x.png 3/4 <pack>/bench/results"


def test_write_results_records_the_run(tmp_path, monkeypatch):
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    printed = results_file.Printed()
    print("ratio 1.002")
    out = results_file.write_results(tmp_path / "x.json", {"ratio": 1.002},
                                     argv=[str(ROOT / "bench" / "x.py"), "--out", str(tmp_path / "y.png")],
                                     printed=printed)
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["command"] == "python bench/x.py --out /path/to/y.png"
    assert record["figures"] == {"ratio": 1.002} and record["printed"] == ["ratio 1.002"]
    assert record["host"] is None and record["date"].endswith("UTC") and record["device"]
    assert str(tmp_path) not in out.read_text(encoding="utf-8")
    assert sys.stdout is not printed


def test_no_path_writes_nothing():
    assert results_file.write_results(None, {"a": 1}) is None
