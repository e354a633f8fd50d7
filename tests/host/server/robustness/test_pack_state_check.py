"""The memory test's leak check (NestedTestPackState in the test-only fault pack) finds a run's
objects by what they are. Read from inside a run, it sees the core's ModelCallGate around the
model, the adapter's objects and the closures the pack hands to the core and to ComfyUI; after
the run it sees what it saw before it, and a pack object kept alive by a caller is counted.

In-process: the check is the function the server runs, on the pack host_fixtures imported
(under another name than the server's, as the check must not care). Other tests of the session
may keep pack objects (a loaded demo model's text encoder), so each test compares with the
check's report just before it."""

from __future__ import annotations

import importlib.util

import pytest

from comfy_server import TESTING_NODES_DIR
from host_fixtures import conds, empty_latent, nested_in_sampler_custom_advanced, pack_module, run_nested_ksampler, tiny


def load_fault_pack():
    spec = importlib.util.spec_from_file_location(
        "nested_fault_nodes_in_process", TESTING_NODES_DIR / "nested_fault_nodes" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = load_fault_pack()._pack_bookkeeping


def read_during_a_run(shape: str) -> dict:
    """The check's report at the third model call of a run of ``shape``."""
    reports = []
    calls = []
    model = tiny("eps").clone()

    def read_at_third_call(apply_model, args):
        calls.append(1)
        if len(calls) == 3:
            reports.append(CHECK())
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(read_at_third_call)
    if shape == "nested":
        run_nested_ksampler(model=model)
    else:
        positive, negative = conds()
        nested_in_sampler_custom_advanced(model, positive, negative, empty_latent())
    assert len(reports) == 1, len(calls)
    return reports[0]


@pytest.mark.parametrize("shape", ["nested", "custom"])
def test_the_leak_check_sees_a_runs_objects_and_none_after_it(shape):
    before = CHECK()
    during = read_during_a_run(shape)
    kinds = during["per_run_kinds"]
    assert during["packs"] == 1 and during["registries"] == 1, during
    assert "ModelCallGate" in kinds, kinds  # the core's wrapper around the model
    assert any(kind.startswith("function ") for kind in kinds), kinds  # the pack's run-time closures
    assert during["per_run_objects"] >= len(kinds), during
    after = CHECK()
    assert (after["per_run_objects"], after["per_run_kinds"]) == (before["per_run_objects"], before["per_run_kinds"]), \
        (before, after)


def test_a_pack_object_kept_alive_is_counted():
    before = CHECK()
    kept = pack_module("nested_core.outer_loop").ModelCallGate(lambda x, sigma: x, None, None)
    report = CHECK()
    assert "ModelCallGate" in report["per_run_kinds"], report
    assert report["per_run_objects"] == before["per_run_objects"] + 1, (before, report)
    del kept
    assert CHECK()["per_run_objects"] == before["per_run_objects"]
