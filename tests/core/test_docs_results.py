"""Every result file the docs name exists and parses: a figure in the docs can be traced to the
committed output of the command named next to it (bench/results/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
NAMED = re.compile(r"(?:bench/)?results/([A-Za-z0-9_.-]+\.(?:json|md|txt|png))")


def named_results() -> dict[str, list[str]]:
    """Result file name -> the markdown files that name it."""
    named: dict[str, list[str]] = {}
    for doc in ROOT.rglob("*.md"):
        if any(part.startswith(".") for part in doc.relative_to(ROOT).parts):
            continue
        for name in NAMED.findall(doc.read_text(encoding="utf-8")):
            named.setdefault(name, []).append(str(doc.relative_to(ROOT)))
    return named


def parses(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix == ".json":
        json.loads(data.decode("utf-8"))
        return True
    if path.suffix == ".png":
        return data[:8] == b"\x89PNG\r\n\x1a\n"
    return bool(data.decode("utf-8").strip())


def test_the_docs_name_result_files():
    assert named_results(), "no doc names a file in bench/results"


def test_every_named_result_file_exists_and_parses():
    missing = {name: docs for name, docs in named_results().items() if not (RESULTS / name).is_file()}
    assert not missing, f"named by the docs but not committed in bench/results: {missing}"
    for name in named_results():
        assert parses(RESULTS / name), name
