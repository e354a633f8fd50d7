"""Test-only ComfyUI nodes that inject faults into a real run (server-level robustness tests).

* ``NestedTestFaultyModel`` wraps a MODEL (through ModelPatcher's public unet function wrapper)
  so that one chosen model call raises an out-of-memory error (ComfyUI's OOM_EXCEPTION), raises
  a plain RuntimeError, returns NaN, or interrupts the prompt the way POST /interrupt does.
  The call is chosen by outer step and call within that outer step's inner run (both 1-based):
  the inner run of an outer step is recognised by the ``transformer_options["sample_sigmas"]``
  the nested sampler gives it: its path (the outer levels above it, then its own schedule),
  which no other inner run of the sampling call has.
* ``NestedTestInterrupt`` passes a LATENT through and interrupts the prompt, so the node after
  it (for example the second nested node of a chain) is interrupted before its first call.
* ``NestedTestPackState`` reports the pack's bookkeeping as UI output (in /history): entries in
  the stop registry and live reporter objects, for the memory test.

A separate pack from ``nested_test_nodes`` so that it needs nothing but ComfyUI itself.
"""

import math

import torch

import comfy.model_management

FAULTS = ("none", "oom", "runtime_error", "nan", "interrupt")
STEP = ("INT", {"default": 1, "min": 1, "max": 10000})


def _executing_node():
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:
        return None
    ctx = get_executing_context()
    return None if ctx is None else (ctx.prompt_id, ctx.node_id)


class FaultAt:
    """The unet function wrapper: counts inner runs (outer steps) per executing node and calls per inner run."""

    def __init__(self, fault, outer_step, inner_call):
        self.fault, self.outer_step, self.inner_call = fault, outer_step, inner_call
        self.runs = {}   # executing node -> inner runs (their sample_sigmas) seen, in order
        self.calls = {}  # (executing node, inner run) -> calls so far

    def __call__(self, apply_model, args):
        schedule = args["c"].get("transformer_options", {}).get("sample_sigmas")
        run = None if schedule is None else tuple(schedule.flatten().tolist())
        node = _executing_node()
        seen = self.runs.setdefault(node, [])
        if run not in seen:
            seen.append(run)
        key = (node, run)
        self.calls[key] = self.calls.get(key, 0) + 1
        outer, call = seen.index(run) + 1, self.calls[key]
        if self.fault != "none" and (outer, call) == (self.outer_step, self.inner_call):
            where = f"outer step {outer}, call {call} of its inner run"
            if self.fault == "oom":
                raise comfy.model_management.OOM_EXCEPTION(
                    f"out of memory (injected by NestedTestFaultyModel at {where})")
            if self.fault == "runtime_error":
                raise RuntimeError(f"injected fault (NestedTestFaultyModel at {where})")
            if self.fault == "interrupt":  # as if POST /interrupt arrived during this call
                comfy.model_management.interrupt_current_processing(True)
            if self.fault == "nan":
                return torch.full_like(apply_model(args["input"], args["timestep"], **args["c"]), math.nan)
        return apply_model(args["input"], args["timestep"], **args["c"])


class NestedTestFaultyModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "fault": (list(FAULTS),), "outer_step": STEP, "inner_call": STEP}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "wrap"
    CATEGORY = "_for_testing/nested_diffusion"

    def wrap(self, model, fault, outer_step, inner_call):
        patched = model.clone()
        patched.set_model_unet_function_wrapper(FaultAt(fault, outer_step, inner_call))
        return (patched,)


class NestedTestInterrupt:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",)}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "interrupt"
    CATEGORY = "_for_testing/nested_diffusion"

    def interrupt(self, samples):
        # What POST /interrupt does; the next node raises at its start (or first model call).
        comfy.model_management.interrupt_current_processing(True)
        return (samples,)


def _pack_bookkeeping() -> dict:
    """The pack's stop registry, found by its type (the pack's module name is its folder path),
    and every live object the pack made for a run.

    A run's objects are found by what they are, not by name: instances of any class defined in
    the pack's modules, except the module-level singletons (registries, file trackers), the
    node instances and the frozen configuration values that ComfyUI's own caches keep between
    prompts (a cached SAMPLER holds its options)."""
    import dataclasses
    import gc
    import sys

    # A module's own namespace only: getattr would run lazy modules' __getattr__, and one of
    # those (imported late in a server's life) made the server exit with code 1.
    homes = [m for m in list(sys.modules.values())
             if type(getattr(m, "__dict__", {}).get("STOPS")).__name__ == "StopRequests"]
    registries = [vars(m)["STOPS"] for m in homes]
    prefix = homes[0].__name__.rsplit(".nodes.", 1)[0] + "." if homes else None
    pack_modules = [m for name, m in list(sys.modules.items()) if prefix and name.startswith(prefix)]
    singletons = {id(value) for m in pack_modules for value in list(vars(m).values())}
    gc.collect()
    per_run = {}
    for obj in gc.get_objects():
        cls = type(obj)
        if prefix is None or not str(getattr(cls, "__module__", "")).startswith(prefix) or id(obj) in singletons:
            continue
        if hasattr(cls, "INPUT_TYPES") or (dataclasses.is_dataclass(obj) and cls.__dataclass_params__.frozen):
            continue
        per_run[cls.__name__] = per_run.get(cls.__name__, 0) + 1
    registry = registries[0] if registries else None
    return {
        "registries": len({id(r) for r in registries}),
        "running": len(getattr(registry, "_running", {})),
        "requested": len(getattr(registry, "_requested", ())),
        "per_run_objects": sum(per_run.values()),
        "per_run_kinds": sorted(per_run),
        "gc_objects": len(gc.get_objects()),
    }


class NestedTestPackState:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1})}}

    @classmethod
    def IS_CHANGED(cls, tag):
        return float("nan")  # always run, with or without ComfyUI's cache

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "report"
    CATEGORY = "_for_testing/nested_diffusion"

    def report(self, tag):
        return {"ui": {"pack_state": [_pack_bookkeeping()]}}


NODE_CLASS_MAPPINGS = {
    "NestedTestPackState": NestedTestPackState,
    "NestedTestFaultyModel": NestedTestFaultyModel,
    "NestedTestInterrupt": NestedTestInterrupt,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "NestedTestPackState": "Nested test: pack state",
    "NestedTestFaultyModel": "Nested test: faulty model",
    "NestedTestInterrupt": "Nested test: interrupt",
}
