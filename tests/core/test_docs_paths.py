"""The docs name no folder of the machine a figure was made on: commands use placeholders such
as /path/to/ComfyUI, so a reader can tell what to replace."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Folders that only exist on some machine; /path/to/... and standard system paths are fine.
MACHINE_FOLDER = re.compile(r"(?<![\w.:/~-])/(?:work|root|home|tmp|mnt|Users|private)/[^\s`'\")]*")


def markdown_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.md") if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]


def result_files() -> list[Path]:
    """The committed bench results the docs quote (bench/harness/results_file.py writes placeholders)."""
    return sorted((ROOT / "bench" / "results").glob("*.json"))


def machine_folders(text: str) -> list[str]:
    return MACHINE_FOLDER.findall(text)


def test_the_pattern_finds_machine_folders_and_spares_placeholders():
    assert machine_folders("COMFYUI_PATH=/work/hosts/comfy python x --out /tmp/a.png") == [
        "/work/hosts/comfy", "/tmp/a.png"]
    assert machine_folders("COMFYUI_PATH=/path/to/ComfyUI /usr/bin/chromium https://x.org/home/a ./tmp/b") == []


def test_docs_name_no_machine_folder():
    found = {str(p.relative_to(ROOT)): hits for p in markdown_files() + result_files()
             if (hits := machine_folders(p.read_text(encoding="utf-8")))}
    assert not found, f"replace these with /path/to/... placeholders: {found}"
