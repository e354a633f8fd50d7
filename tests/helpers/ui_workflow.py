"""Run a UI-format workflow (what example_workflows/ holds) in-process, on ComfyUI's node classes.

``api_prompt`` turns the editor's format into ComfyUI's API format using the nodes' own
INPUT_TYPES (widget values are stored by position; a seed widget stores one extra value, the
"control after generate" choice). ``run_graph`` then calls each node's function in dependency
order under ``torch.inference_mode()``, as ComfyUI's executor does, and returns every node's
outputs. It has no cache and no validation: the server tests cover ComfyUI's executor.
"""

from __future__ import annotations

from typing import Callable

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def widget_names(input_types: dict) -> list[str]:
    """Names of the widget slots, in the order the editor stores their values."""
    names = []
    for section in ("required", "optional"):
        for name, spec in input_types.get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                names.append(name)
                if options.get("control_after_generate"):
                    names.append(None)  # the stored "fixed"/"randomize" choice: not an input
    return names


FRONTEND_ONLY = {"Note", "MarkdownNote"}


def api_prompt(workflow: dict, input_types: Callable[[str], dict]) -> dict:
    links = {link[0]: (str(link[1]), link[2]) for link in workflow["links"]}
    prompt = {}
    for n in workflow["nodes"]:
        if n["type"] in FRONTEND_ONLY:  # drawn by the frontend, never sent with a prompt
            continue
        inputs = {}
        for name, value in zip(widget_names(input_types(n["type"])), n.get("widgets_values", [])):
            if name is not None:
                inputs[name] = value
        for slot in n.get("inputs", []):
            if slot.get("link") is not None:
                src, index = links[slot["link"]]
                inputs[slot["name"]] = [src, index]
        prompt[str(n["id"])] = {"class_type": n["type"], "inputs": inputs}
    return prompt


def run_graph(prompt: dict, classes: dict) -> dict[str, tuple]:
    """Outputs of every node of an API-format ``prompt``; ``classes`` maps class_type -> node class."""
    import torch

    done: dict[str, tuple] = {}

    def run(node_id: str) -> tuple:
        if node_id not in done:
            spec = prompt[node_id]
            cls = classes[spec["class_type"]]
            kwargs = {name: (run(v[0])[v[1]] if isinstance(v, list) else v) for name, v in spec["inputs"].items()}
            result = getattr(cls(), cls.FUNCTION)(**kwargs)
            done[node_id] = result.get("result", ()) if isinstance(result, dict) else result
        return done[node_id]

    with torch.inference_mode():
        for node_id in prompt:
            run(node_id)
    return done


def core_node_output(cls, *args, **kwargs):
    """Call a core node on 0.3.64 (a plain class) or 0.33.0 (a V3 ComfyNode, without hidden inputs)."""
    if hasattr(cls, "define_schema"):
        return cls.execute(*args, **kwargs).args
    return getattr(cls(), cls.FUNCTION)(*args, **kwargs)


def v1_node(core):
    """A core node (plain class or V3 ComfyNode) as a V1-style class, the way ``run_graph`` calls
    nodes on every host (by input name)."""

    class V1Node:
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return core.INPUT_TYPES()

        def run(self, **inputs):
            return core_node_output(core, **inputs)

    V1Node.__name__ = V1Node.__qualname__ = f"V1{core.__name__}"
    return V1Node
