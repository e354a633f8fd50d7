"""The pack's rooms depend on each other one way only, as docs/development.md draws them:
``__init__.py`` → ``nodes`` → ``nested_core``; inside ``nodes``, declarations and routes sit on
the runtime, the runtime on previews and the host, and the demos stand alone. ``nested_core``
imports no ComfyUI, and nothing shipped imports the benches, the tests or scikit-learn."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# room -> the rooms its modules may import (its own room is always allowed)
ALLOWED = {
    "nested_core": set(),
    "nodes.host": set(),
    "nodes.previews": {"nodes.host"},
    "nodes.runtime": {"nodes.host", "nodes.previews", "nested_core"},
    "nodes.routes": {"nodes.host", "nodes.runtime"},
    "nodes.declarations": {"nodes.host", "nodes.runtime", "nested_core"},
    "nodes.demos": set(),
    "nodes": {"nodes.declarations", "nodes.demos", "nodes.routes"},
}
HOST_MODULES = {"comfy", "comfy_extras", "comfy_api", "comfy_execution", "nodes", "folder_paths", "server",
                "latent_preview", "execution", "node_helpers"}
NEVER_SHIPPED = {"sklearn", "matplotlib", "harness", "host_env", "tiny_models", "pytest"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    for room in sorted(ALLOWED, key=len, reverse=True):
        if module == room or module.startswith(room + "."):
            return room
    raise AssertionError(f"{module} is in no room of ALLOWED: add it there and to docs/development.md")


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(pack modules imported relatively, resolved to dotted names; top-level names imported absolutely)."""
    me = [part for part in module_name(path).split(".") if part]
    package = me if path.name == "__init__.py" else me[:-1]
    pack, absolute = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            pack.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and node.module:
            absolute.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            absolute.update(alias.name.split(".")[0] for alias in node.names)
    return pack, absolute


def shipped_modules() -> list[Path]:
    return sorted(ROOT.glob("nested_core/**/*.py")) + sorted(ROOT.glob("nodes/**/*.py"))


def test_every_shipped_module_is_in_a_room():
    assert len(shipped_modules()) > 20
    for path in shipped_modules():
        room_of(module_name(path))


def test_rooms_import_only_the_rooms_below_them():
    wrong = []
    for path in shipped_modules():
        room = room_of(module_name(path))
        for target in imports(path)[0]:
            other = room_of(target)
            if other != room and other not in ALLOWED[room]:
                wrong.append(f"{path.relative_to(ROOT)} imports {target} ({room} may use {sorted(ALLOWED[room])})")
    assert not wrong, "\n".join(wrong)


def test_the_core_imports_no_comfyui_and_nothing_shipped_imports_bench_or_tests():
    for path in shipped_modules():
        absolute = imports(path)[1]
        assert not absolute & NEVER_SHIPPED, f"{path.relative_to(ROOT)} imports {sorted(absolute & NEVER_SHIPPED)}"
        if path.parts[len(ROOT.parts)] == "nested_core":
            assert not absolute & HOST_MODULES, f"{path.relative_to(ROOT)} imports {sorted(absolute & HOST_MODULES)}"


def test_the_entry_point_imports_only_the_nodes_package():
    pack, _ = imports(ROOT / "__init__.py")
    assert pack == {"nodes"}
