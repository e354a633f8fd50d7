"""The Comfy Registry metadata and the publish workflow: the version is SemVer, the icon named in
[tool.comfy] is this repository's own small square PNG, and publish.yml publishes from main
only when the version changes, with the token from a repository secret."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "publish.yml"
VERSION_CHANGED = REPO_ROOT / ".ci" / "version_changed"


def setting(name: str) -> str:
    match = re.search(rf'^{re.escape(name)}\s*=\s*"([^"]*)"', PYPROJECT, re.MULTILINE)
    assert match, f"pyproject.toml has no {name} = \"...\""
    return match.group(1)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", setting("version")), setting("version")


def test_changelog_newest_section_is_the_pyproject_version():
    """A release publishes pyproject's version; the CHANGELOG's newest section must say what is in it."""
    text = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\]", text, flags=re.M)
    assert newest is not None, "CHANGELOG.md has no '## [x.y.z]' section"
    assert newest.group(1) == setting("version"), (newest.group(1), setting("version"))


def test_icon_is_this_repositorys_small_square_png():
    repository = setting("Repository").rstrip("/")
    owner_name = repository.split("github.com/", 1)[1]
    prefix = f"https://raw.githubusercontent.com/{owner_name}/main/"
    icon = setting("Icon")
    assert icon.startswith(prefix), f"Icon should be a raw URL of a file on main: {icon}"
    path = REPO_ROOT / icon[len(prefix):]
    assert path.is_file(), f"{path} is missing (python bench/assets/make_icon.py draws it)"
    data = path.read_bytes()
    width, height = png_size(data)
    # The registry takes SVG, PNG, JPG or GIF up to 800x400; a square one fits its cards.
    assert width == height and 64 <= width <= 400, (width, height)
    assert len(data) <= 16 * 1024, len(data)


def test_publish_workflow_runs_on_main_when_pyproject_changes_with_the_secret_token():
    text = WORKFLOW.read_text(encoding="utf-8")
    assert re.search(r"^on:\s*\n\s+push:\s*\n\s+branches:\s*\[main\]\s*\n\s+paths:\s*\n\s+-\s*\"pyproject.toml\"",
                     text, re.MULTILINE), "publish.yml must run on pushes to main that change pyproject.toml"
    assert "uses: Comfy-Org/publish-node-action@" in text
    tokens = re.findall(r"personal_access_token:\s*(\S.*)$", text, re.MULTILINE)
    assert tokens == ["${{ secrets.REGISTRY_ACCESS_TOKEN }}"], tokens
    assert "bash .ci/version_changed" in text and "fetch-depth: 0" in text
    assert ".ci/" in (REPO_ROOT / ".comfyignore").read_text().split()  # not shipped in the archive


@pytest.fixture
def git_repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    return tmp_path, git


def version_changed(cwd: Path, base: str) -> str:
    done = subprocess.run(["bash", str(VERSION_CHANGED), base], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_version_changed_compares_pyproject_versions(git_repo):
    repo, git = git_repo
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n')
    git("add", "pyproject.toml")
    git("commit", "-q", "-m", "first")
    first = git("rev-parse", "HEAD")
    assert version_changed(repo, first) == "false"
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.1.0"\ndescription = "more"\n')
    git("commit", "-q", "-am", "not a release")
    assert version_changed(repo, first) == "false"
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.2.0"\n')
    git("commit", "-q", "-am", "release")
    assert version_changed(repo, first) == "true"
    assert version_changed(repo, git("rev-parse", "HEAD")) == "false"
    # A push that created the branch, or a "before" commit this clone lacks: publish.
    assert version_changed(repo, "0" * 40) == "true"
    assert version_changed(repo, "1234567" * 5 + "12345") == "true"
