"""The shipped example workflows (UI format) still match the nodes the server describes:
every widget value in its slot, every combo string offered, every link between matching types.
UI workflows store widget values by position, so this is also the guard on widget order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfy_server import PACK_LINK_NAME, REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / "example_workflows").glob("*.json"))
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# Files a user supplies: not on a test machine, so not in the server's lists.
USER_FILES = {("CheckpointLoaderSimple", "ckpt_name")}


def widget_inputs(info: dict) -> list[tuple[str, object, dict]]:
    """(name, type, options) of the node's widget inputs, in the order the editor stores them."""
    out = []
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                out.append((name, kind, options))
    return out


def expected_values(info: dict) -> list[tuple[str, object, dict]]:
    slots = []
    for name, kind, options in widget_inputs(info):
        slots.append((name, kind, options))
        if options.get("control_after_generate"):  # the editor stores the "fixed"/"randomize" choice
            slots.append((f"{name} (control)", ["fixed", "increment", "decrement", "randomize"], {}))
    return slots


def test_there_are_example_workflows():
    assert {p.name for p in WORKFLOWS} >= {"nested_ksampler_text_to_image.json", "nested_prompt_change_mid_run.json"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflow_matches_the_servers_nodes(nested_none, path: Path):
    workflow = json.loads(path.read_text())
    info = nested_none.object_info()
    by_id = {n["id"]: n for n in workflow["nodes"]}
    for n in workflow["nodes"]:
        assert n["type"] in info, f"{path.name}: unknown node {n['type']}"
        slots = expected_values(info[n["type"]])
        values = n.get("widgets_values", [])
        assert len(values) == len(slots), (path.name, n["type"], values, [s[0] for s in slots])
        for (name, kind, options), value in zip(slots, values):
            if isinstance(kind, list):
                if (n["type"], name) not in USER_FILES:
                    assert value in kind, (path.name, n["type"], name, value)
            elif kind in ("INT", "FLOAT"):
                assert isinstance(value, (int, float)), (path.name, n["type"], name, value)
                assert options.get("min", value) <= value <= options.get("max", value), (n["type"], name, value)
            elif kind == "STRING":
                assert isinstance(value, str), (path.name, n["type"], name, value)
    for link_id, src, src_slot, dst, dst_slot, kind in workflow["links"]:
        source, target = by_id[src], by_id[dst]
        assert info[source["type"]]["output"][src_slot] == kind, (path.name, link_id)
        target_input = target["inputs"][dst_slot]
        assert target_input["link"] == link_id and target_input["type"] == kind, (path.name, link_id)
        required = {**info[target["type"]]["input"]["required"], **info[target["type"]]["input"].get("optional", {})}
        assert required[target_input["name"]][0] == kind, (path.name, link_id, target_input["name"])


def test_examples_are_served_as_templates(nested_none):
    templates = nested_none.get_json("/api/workflow_templates")
    assert sorted(templates.get(PACK_LINK_NAME, [])) == sorted(p.stem for p in WORKFLOWS), templates
    for path in WORKFLOWS:
        served = nested_none.get_json(f"/api/workflow_templates/{PACK_LINK_NAME}/{path.name}")
        assert served == json.loads(path.read_text())
