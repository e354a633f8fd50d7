"""The demo's files ship in the Comfy Registry archive: git-tracked, not left out by .comfyignore
(the archive is the tracked files minus its patterns), and within the size budget."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    "nodes/demos/digits/unet.safetensors",
    "example_workflows/nested_diffusion_demo_digits.json",
    "example_workflows/nested_diffusion_demo_digits.jpg",
    "docs/demo_filmstrip.png",
    "nodes/demos/video/wan_digits.safetensors",
    "example_workflows/nested_diffusion_demo_video.json",
    "example_workflows/nested_diffusion_demo_video.jpg",
    "example_workflows/Nested Diffusion - steer a running generation.json",
    "example_workflows/Nested Diffusion - steer a running generation.jpg",
    "docs/steering_filmstrip.png",
]


def ignored_by(patterns: list[str], path: str) -> list[str]:
    """The .comfyignore patterns (gitignore style: "dir/" or a glob) that leave ``path`` out."""
    parts = path.split("/")
    hits = []
    for pattern in patterns:
        if pattern.endswith("/"):
            name = pattern.rstrip("/")
            if any(fnmatch.fnmatch(p, name) for p in parts[:-1]):
                hits.append(pattern)
        elif fnmatch.fnmatch(parts[-1], pattern) or fnmatch.fnmatch(path, pattern):
            hits.append(pattern)
    return hits


def test_comfyignore_keeps_the_demo_files():
    lines = (REPO_ROOT / ".comfyignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignored_by(patterns, "tests/host/demos/test_demo_digits.py") == ["tests/"]  # the reader works
    for path in SHIPPED:
        assert (REPO_ROOT / path).is_file(), path
        assert ignored_by(patterns, path) == [], path


def test_demo_files_are_tracked_by_git():
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: the registry archive is built from one")
    tracked = subprocess.run(["git", "ls-files", "--", *SHIPPED], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert sorted(tracked) == sorted(SHIPPED)


def test_demo_weights_fit_the_size_budget():
    assert (REPO_ROOT / "nodes/demos/digits/unet.safetensors").stat().st_size <= 10 * 1024 * 1024
    assert (REPO_ROOT / "nodes/demos/video/wan_digits.safetensors").stat().st_size <= 10 * 1024 * 1024
