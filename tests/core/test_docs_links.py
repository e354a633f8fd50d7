"""Every link and image in the pack's Markdown resolves: the file exists in the repository and,
for a ``#anchor`` into a Markdown file, that file has the heading (GitHub's slug rules) or an
explicit ``<a id=...>``.

Links to this repository's own GitHub pages (``<Repository>/blob/main/...``, ``/tree/main/...``,
``raw.githubusercontent.com/<owner>/<name>/main/...``, the Repository being the one in
pyproject.toml) are checked as the local files they name: the node help pages in ``web/docs/``
must use such absolute URLs, because ComfyUI's frontend shows them outside the repository where
relative links do not resolve. Other web links are not fetched (no network in tests).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKED = ["README.md", "CHANGELOG.md", "docs/*.md", "web/docs/*.md", "bench/README.md", "tests/README.md"]

FENCE = re.compile(r"^\s*(```|~~~)")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+(?:[^>]*?\s)?(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_SRC = re.compile(r"""<(?:img|a|source|video)\s[^>]*?(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def repository_url(root: Path = REPO_ROOT) -> str:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.MULTILINE)
    assert match, "pyproject.toml has no [project.urls] Repository"
    return match.group(1).rstrip("/")


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with inline code spans blanked out."""
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, line


def github_slug(heading: str) -> str:
    """The id GitHub gives a heading: its rendered text, lowercased, with everything but letters,
    digits, marks, spaces, hyphens and underscores dropped, and each space made a hyphen."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # images: their alt text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis markers, not snake_case
    kept = []
    for char in text.lower():
        category = unicodedata.category(char)
        if char in " -_" or category[0] in "LNM":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    """Every fragment a link into ``path`` may use: heading slugs (repeats get -1, -2, ...) and
    explicit ``<a id=...>`` / ``<a name=...>`` anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        match = ATX_HEADING.match(line)
        if match:
            slug = github_slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def link_targets(text: str):
    """(line number, target) of every inline link, image, reference definition and HTML src/href."""
    for number, line in prose_lines(text):
        line = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        for pattern in (INLINE_LINK, REFERENCE_DEF, HTML_SRC):
            for target in pattern.findall(line):
                yield number, target


def local_target(target: str, source: Path, root: Path, repo_url: str) -> tuple[Path, str] | None:
    """The file a link names in this repository and its fragment, or None for a link the test
    cannot check (another site, mail)."""
    owner_name = repo_url.split("github.com/", 1)[-1]
    own_prefixes = (f"{repo_url}/blob/main/", f"{repo_url}/tree/main/",
                    f"https://raw.githubusercontent.com/{owner_name}/main/")
    for prefix in own_prefixes:
        if target.startswith(prefix):
            path, _, fragment = target[len(prefix):].partition("#")
            return root / path, fragment
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None
    path, _, fragment = target.partition("#")
    path = path.split("?", 1)[0]
    return (source.parent / path if path else source), fragment


def broken_links(files: list[Path], root: Path = REPO_ROOT) -> list[str]:
    repo_url = repository_url(root)
    problems = []
    anchor_cache: dict[Path, set[str]] = {}
    for source in files:
        shown = source.relative_to(root).as_posix()
        for number, target in link_targets(source.read_text(encoding="utf-8")):
            resolved = local_target(target, source, root, repo_url)
            if resolved is None:
                continue
            path, fragment = resolved
            path = path.resolve()
            if root.resolve() not in (path, *path.parents):
                problems.append(f"{shown}:{number}: {target} points outside the repository")
            elif not path.exists():
                problems.append(f"{shown}:{number}: {target}: no such file {path.relative_to(root.resolve())}")
            elif fragment and path.suffix.lower() == ".md":
                if path not in anchor_cache:
                    anchor_cache[path] = anchors_of(path)
                if fragment not in anchor_cache[path]:
                    problems.append(f"{shown}:{number}: {target}: no heading or anchor #{fragment} in "
                                    f"{path.relative_to(root.resolve()).as_posix()}")
    return problems


def checked_files(root: Path = REPO_ROOT) -> list[Path]:
    files: list[Path] = []
    for pattern in CHECKED:
        files.extend(sorted(root.glob(pattern)))
    return files


def test_every_link_and_image_in_the_docs_resolves():
    files = checked_files()
    assert len(files) >= 10, [f.name for f in files]  # README, the docs pages, the node help, ...
    problems = broken_links(files)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_node_help_links_to_the_reference_pages_by_absolute_url():
    repo_url = repository_url()
    pages = sorted((REPO_ROOT / "web" / "docs").glob("*.md"))
    assert pages
    for page in pages:
        targets = [t for _, t in link_targets(page.read_text(encoding="utf-8"))]
        into_docs = [t for t in targets if t.startswith(f"{repo_url}/blob/main/docs/")]
        assert into_docs, f"{page.name} has no link to a reference page in docs/"
        relative = [t for t in targets if local_target(t, page, REPO_ROOT, repo_url) is not None
                    and not t.startswith(("http://", "https://"))]
        assert not relative, f"{page.name}: relative links do not resolve in ComfyUI's frontend: {relative}"


def test_github_slugs():
    # Ids GitHub gives these headings (checked against rendered pages of GitHub repositories).
    assert github_slug("Time budget (`max_seconds`)") == "time-budget-max_seconds"
    assert github_slug("Nested KSampler (Advanced) (`NestedKSamplerAdvanced`)") == \
        "nested-ksampler-advanced-nestedksampleradvanced"
    assert github_slug("Try it: the digits demo (no download)") == "try-it-the-digits-demo-no-download"
    assert github_slug("Step 1 \u2192 step 2") == "step-1--step-2"
    assert github_slug("**Bold** and [a link](x.md) and _emphasis_") == "bold-and-a-link-and-emphasis"
    assert github_slug("\u00dcber 0.3.64") == "\u00fcber-0364"


def test_the_checker_reports_what_is_broken(tmp_path):
    repo = "https://github.com/someone/pack"
    (tmp_path / "pyproject.toml").write_text(f'[project.urls]\nRepository = "{repo}"\n')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(
        "# Page\n\n## Stop and keep\n\n## Stop and keep\n\n<a id=\"custom\"></a>\n\n"
        "```bash\n# not a heading\n[not a link](missing-in-code.md)\n```\n")
    (tmp_path / "pic.png").write_bytes(b"\x89PNG")
    (tmp_path / "README.md").write_text(
        "![ok](pic.png) ![gone](nope.png) [ok](docs/page.md#stop-and-keep-1) [ok](docs/page.md#custom)\n"
        "[bad anchor](docs/page.md#not-a-heading) [bad](docs/other.md) `[code](skipped.md)`\n"
        f"[ok]({repo}/blob/main/docs/page.md#page) [bad]({repo}/blob/main/docs/gone.md)\n"
        f"[bad]({repo}/tree/main/docs/page.md#nothing) [ok](https://example.com/x.md) [up](../outside.md)\n"
        "[self](#missing) <img src=\"pic.png\"> <img src=\"missing.png\">\n\n[ref]: docs/nowhere.md\n")
    problems = broken_links([tmp_path / "README.md", tmp_path / "docs" / "page.md"], tmp_path)
    reported = sorted(p.split(": ", 1)[0] + " " + p.split(": ", 2)[1] for p in problems)
    assert reported == sorted([
        "README.md:1 nope.png",
        "README.md:2 docs/page.md#not-a-heading",
        "README.md:2 docs/other.md",
        f"README.md:3 {repo}/blob/main/docs/gone.md",
        f"README.md:4 {repo}/tree/main/docs/page.md#nothing",
        "README.md:4 ../outside.md points outside the repository",
        "README.md:5 #missing",
        "README.md:5 missing.png",
        "README.md:7 docs/nowhere.md",
    ]), problems
