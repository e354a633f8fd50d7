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

import dataclasses
import functools
import gc
import math
import os
import sys
import types
from pathlib import Path

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


# The repository root: the pack this server loads (through a symlink, under a name of the
# server's choosing) is the package whose __init__.py is this file.
PACK_INIT = Path(__file__).resolve().parents[6] / "__init__.py"


def _namespace(module) -> dict:
    """A module's own namespace only: getattr would run lazy modules' __getattr__, and one of
    those (imported late in a server's life) made the server exit with code 1."""
    namespace = getattr(module, "__dict__", None)
    return namespace if isinstance(namespace, dict) else {}


def _is_file(path, target: Path) -> bool:
    return isinstance(path, str) and os.path.realpath(path) == str(target)


def _server_route_handlers() -> set:
    """ids of the handlers registered with ComfyUI's server (PromptServer.instance.routes and
    its app's router): the pack's routes are functions it makes once, when it loads."""
    prompt_server = _namespace(sys.modules.get("server")).get("PromptServer")
    instance = getattr(prompt_server, "instance", None)
    if instance is None:
        return set()
    handlers = [getattr(route, "handler", None) for route in list(getattr(instance, "routes", ()))]
    router = getattr(getattr(instance, "app", None), "router", None)
    if router is not None:
        handlers += [getattr(route, "handler", None) for route in list(router.routes())]
    found = set()
    for handler in handlers:
        while handler is not None and id(handler) not in found:  # and what decorators wrapped
            found.add(id(handler))
            handler = getattr(handler, "__wrapped__", None)
    return found


def _pack_bookkeeping() -> dict:
    """The pack's stop registry and every live object the pack made for a run.

    The pack is found by what it is (the package imported from the repository root's
    __init__.py, whatever name ComfyUI gave it), and so are a run's objects, never by a class
    name: instances of any class defined in the pack's modules (the nodes' adapters, the core's
    ModelCallGate around the model, reporters, budgets, ...), and the functions the pack's code
    makes while it runs (closures such as the hooks and stop checks it hands to the core and to
    ComfyUI), generators running the pack's code and partials of the pack's functions. Left out:
    the module-level and class-level values (registries, file trackers, functions, decorated
    methods), the handlers of the routes the pack registered with the server when it loaded,
    the node instances and the frozen configuration values that ComfyUI's own caches keep
    between prompts (a cached SAMPLER holds its options)."""
    modules = list(sys.modules.items())
    homes = [m for _, m in modules if _is_file(_namespace(m).get("__file__"), PACK_INIT)]
    prefixes = tuple(m.__name__ + "." for m in homes)
    pack_modules = homes + [m for name, m in modules if prefixes and name.startswith(prefixes)]
    pack_files = {os.path.realpath(f) for m in pack_modules if isinstance(f := _namespace(m).get("__file__"), str)}
    registries = {id(_namespace(m)["STOPS"]): _namespace(m)["STOPS"] for m in pack_modules
                  if "STOPS" in _namespace(m)}
    singletons = _server_route_handlers()
    for m in pack_modules:
        for value in list(_namespace(m).values()):
            singletons.add(id(value))
            if isinstance(value, type) and str(value.__module__).startswith(prefixes):
                singletons.update(id(v) for v in vars(value).values())
                singletons.update(id(getattr(v, "__func__", None)) for v in vars(value).values())

    def pack_code(code) -> bool:
        return isinstance(code, types.CodeType) and os.path.realpath(code.co_filename) in pack_files

    def kind_of(obj):
        """The kind of a per-run pack object, or None for anything else. Only type(obj) is
        read: isinstance would read obj.__class__, which some proxies compute (with warnings)."""
        cls = type(obj)
        if id(obj) in singletons:
            return None
        if cls is types.FunctionType:
            # Made by a pack function while it ran (module- and class-level ones are singletons).
            return f"function {obj.__qualname__}" if "<locals>" in obj.__qualname__ and pack_code(obj.__code__) \
                else None
        if cls is types.GeneratorType or cls is types.CoroutineType:
            code = obj.gi_code if cls is types.GeneratorType else obj.cr_code
            return f"generator {obj.__qualname__}" if pack_code(code) else None
        if issubclass(cls, functools.partial):
            return f"partial {getattr(obj.func, '__qualname__', obj.func)}" \
                if pack_code(getattr(obj.func, "__code__", None)) else None
        if not str(getattr(cls, "__module__", "")).startswith(prefixes) or hasattr(cls, "INPUT_TYPES"):
            return None
        if dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen:
            return None
        return cls.__qualname__

    gc.collect()
    per_run = {}
    for obj in gc.get_objects() if prefixes else ():
        kind = kind_of(obj)
        if kind is not None:
            per_run[kind] = per_run.get(kind, 0) + 1
    registry = next(iter(registries.values()), None)
    return {
        "packs": len(homes),
        "registries": len(registries),
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
