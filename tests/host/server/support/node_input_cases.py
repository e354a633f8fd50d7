"""Hostile values for every input of the pack's nodes, generated from their /object_info entries.

Each case replaces (or removes) one input of one node in a small working prompt; pair cases
change two inputs of one node at once. Values: wrong JSON types, numbers just outside and far
outside the declared range, NaN and infinities, empty and unknown combo strings, huge strings,
and for linked inputs a missing link, dangling links, wrong output slots, links of the wrong
type and malformed links.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from robust_prompts import Graph, build
from server_prompts import LATENT, MODEL, nested_ksampler_advanced_node, save_latent

MISSING = object()
# Step counts multiply into model calls (outer x inner), so in-range values stay small: the
# fuzz looks for crashes and hangs, not for long legitimate runs.
COSTLY = {"outer_steps", "inner_steps", "end_at_outer_step", "pause_timeout_minutes"}


@dataclass
class Case:
    node_class: str
    inputs: dict           # input name -> new value (MISSING: removed)
    graph: Graph
    node_id: str
    links: frozenset = frozenset()  # the changed inputs that take a link (MODEL, LATENT, ...)

    @property
    def label(self) -> str:
        shown = {k: ("<missing>" if v is MISSING else repr(v)[:40]) for k, v in self.inputs.items()}
        return f"{self.node_class} {shown}"


def pack_graph(node_class: str) -> tuple[Graph, str]:
    """A small working prompt around ``node_class`` and the id of that node in it."""
    if node_class == "NestedKSampler":
        return build("nested", outer_steps=2, inner_steps=1), "5"
    if node_class == "SamplerNestedDiffusion":
        return build("custom", outer_steps=2, inner_steps=1), "7"
    graph = build("nested", outer_steps=2, inner_steps=1)
    graph.prompt["5"] = nested_ksampler_advanced_node(outer_steps=2, inner_steps=1, scheduler="simple")
    graph.prompt["6"] = save_latent("5", 0)
    graph.prompt["7"] = save_latent("5", 1)
    return graph, "5"


def _number_values(kind: str, spec: dict, costly: bool) -> list:
    low, high = spec.get("min"), spec.get("max")
    values = ["abc", "", None, True, {}, [], [1, 2, 3], math.nan, math.inf, -math.inf, 10**30, -(10**30), 2**64]
    if low is not None:
        values += [low - 1, low - 0.5 if kind == "FLOAT" else low - 1000, low]
    if high is not None:
        values += [high + 1, high * 10 + 1] + ([] if costly else [high])
    values += ["7", " 3 ", 2.5, "1e3", "0x10"]
    return values


def _combo_values(options: list) -> list:
    return ["", "unknown_choice", "x" * 100_000, 5, 0.5, None, True, {}, [options[0]] if options else [],
            (options[0].upper() + " ") if options else "?", options[0] + "\x00" if options else "\x00"]


def _link_values(input_type: str) -> list:
    wrong = [LATENT, 0] if input_type != "LATENT" else [MODEL, 0]
    return [MISSING, ["999", 0], [MODEL, 7], [MODEL, -1], wrong, "abc", 5, None, [], [MODEL], [None, 0],
            [MODEL, "0"], [MODEL, 0.5], [[MODEL, 0], 0], {"node": MODEL}]


def is_link(spec: list) -> bool:
    return not (isinstance(spec[0], list) or spec[0] in ("COMBO", "INT", "FLOAT", "STRING", "BOOLEAN"))


def input_values(name: str, spec: list) -> list:
    kind, options = spec[0], spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list) or kind == "COMBO":
        values = _combo_values(kind if isinstance(kind, list) else options.get("options", []))
    elif not is_link(spec):
        values = _number_values(kind, options, name in COSTLY)
    else:
        return _link_values(kind)
    return [MISSING] + values


def node_input_cases(object_info: dict, node_classes, pairs: int, seed: int = 0) -> list[Case]:
    """One case per (input, value) of every node, then ``pairs`` random two-input cases."""
    rng = random.Random(seed)
    cases, per_node, links = [], {}, set()
    for node_class in node_classes:
        entry = object_info[node_class]["input"]
        specs = {**entry.get("required", {}), **entry.get("optional", {})}
        links |= {name for name, spec in specs.items() if is_link(spec)}
        per_node[node_class] = {name: input_values(name, spec) for name, spec in specs.items()}
        for name, values in per_node[node_class].items():
            for value in values:
                graph, node_id = pack_graph(node_class)
                cases.append(Case(node_class, {name: value}, graph, node_id))
    for _ in range(pairs):
        node_class = rng.choice(list(node_classes))
        names = rng.sample(sorted(per_node[node_class]), 2)
        graph, node_id = pack_graph(node_class)
        cases.append(Case(node_class, {n: rng.choice(per_node[node_class][n]) for n in names}, graph, node_id))
    for case in cases:
        case.links = frozenset(case.inputs) & links
        node_inputs = case.graph.prompt[case.node_id]["inputs"]
        # A case that turns step mode on pauses for a person; with the shortest timeout the pause
        # ends by itself in 0.6 s, so it is checked like any other run (unless the case fuzzes
        # the timeout itself).
        node_inputs["pause_timeout_minutes"] = 0.01
        for name, value in case.inputs.items():
            if value is MISSING:
                node_inputs.pop(name, None)
            else:
                node_inputs[name] = value
    return cases
