"""The steering inputs of the nested nodes (optional, after every older input, so saved
workflows load unchanged), their checks, and where a steered run writes its record.

The record is written where replays read it: the node's UI output (``/history``), the running
prompt (``PROMPT``, the API-format dict SaveImage embeds) and the UI workflow in
``EXTRA_PNGINFO``. Both dicts are the prompt's own objects, shared by its nodes, so an edit made
before the node returns reaches every SaveImage after it: the images of a steered run carry a
workflow that replays it.
"""

from __future__ import annotations

import logging

from ...nested_core.steering import parse_record

MAX_PAUSE_MINUTES = 1440.0
MIN_PAUSE_MINUTES = 0.01
HIDDEN = {"unique_id": "UNIQUE_ID", "prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
UI_KEY = "nested_steering"
log = logging.getLogger("nested_diffusion")

CLIP_TIP = ("Optional: the CLIP that encoded the prompt. With it, the prompt and negative can be changed while "
            "the run is paused (the new text replaces the text embedding and keeps ControlNet, areas, masks).")
PAUSE_TIP = ("Step mode: pause after every outer step, with each batch item's image shown as a tile to pick, "
             "the prompt and cfg to change, and Continue. A run that replays a steering record never pauses "
             "by itself.")
TIMEOUT_TIP = "A pause that lasts this long continues the run unchanged (the status and the console say so)."
STEERING_TIP = ("The interventions of a steered run, filled by the panel as you steer (JSON). Not empty: Queue "
                "replays them exactly, without pausing. Clear it to run without them.")


def steering_inputs(with_clip: bool) -> dict:
    inputs = {"clip": ("CLIP", {"tooltip": CLIP_TIP})} if with_clip else {}
    inputs.update({
        "pause_every_outer_step": ("BOOLEAN", {"default": False, "tooltip": PAUSE_TIP}),
        "pause_timeout_minutes": ("FLOAT", {"default": 10.0, "min": MIN_PAUSE_MINUTES, "max": MAX_PAUSE_MINUTES,
                                            "step": 0.5, "round": 0.01, "tooltip": TIMEOUT_TIP}),
        "steering": ("STRING", {"default": "", "multiline": False, "dynamicPrompts": False,
                                "tooltip": STEERING_TIP}),
    })
    return inputs


def check_steering_inputs(pause_timeout_minutes, steering) -> None:
    """Errors before any model call: the timeout's range, and the record's shape (its fit to the
    run is checked when the run starts)."""
    if isinstance(pause_timeout_minutes, bool) or not isinstance(pause_timeout_minutes, (int, float)) or \
            not MIN_PAUSE_MINUTES <= float(pause_timeout_minutes) <= MAX_PAUSE_MINUTES:
        raise ValueError(f"pause_timeout_minutes must be a number from {MIN_PAUSE_MINUTES:g} to "
                         f"{MAX_PAUSE_MINUTES:g}, got {pause_timeout_minutes!r}")
    if not isinstance(steering, str):
        raise ValueError(f"steering must be text (a steering record or empty), got {type(steering).__name__}")
    parse_record(steering)


def widget_slot(node_class, name: str = "steering") -> int | None:
    """The position of widget ``name`` in a saved workflow's ``widgets_values`` for this node
    class: widget inputs in declaration order, plus the extra slot the frontend stores after a
    seed's ``control_after_generate``. Links (MODEL, CLIP, ...) have no slot."""
    slot = 0
    types = node_class.INPUT_TYPES()
    for section in ("required", "optional"):
        for input_name, spec in types.get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if not (isinstance(kind, list) or kind in WIDGET_TYPES):
                continue
            if input_name == name:
                return slot
            slot += 2 if options.get("control_after_generate") else 1
    return None


def write_record(record: str, node_id, node_class, prompt: dict | None, extra_pnginfo: dict | None) -> None:
    """Put ``record`` into the running prompt and into the UI workflow the images will embed."""
    node_id = None if node_id is None else str(node_id)
    if node_id is None:
        return
    entry = prompt.get(node_id) if isinstance(prompt, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("inputs"), dict):
        entry["inputs"]["steering"] = record
    workflow = extra_pnginfo.get("workflow") if isinstance(extra_pnginfo, dict) else None
    slot = widget_slot(node_class)
    for node in (workflow or {}).get("nodes", []) if isinstance(workflow, dict) else []:
        if not isinstance(node, dict) or str(node.get("id")) != node_id:
            continue
        values = node.get("widgets_values")
        # Only a workflow laid out as this pack declares it is edited (a subgraph's inner node,
        # or a layout from another version, is left alone: the prompt above still carries it).
        if node.get("type") == node_class.__name__ and isinstance(values, list) and slot is not None \
                and slot < len(values) and isinstance(values[slot], str):
            values[slot] = record
        else:
            log.info("Nested Diffusion: the steering record of node %s was not written into the workflow "
                     "(its widget layout differs); the prompt in the image metadata carries it", node_id)
        return
