"""Injected model faults and interrupts on a real server (NestedTestFaultyModel).

A model call that raises out-of-memory or a RuntimeError, or returns NaN, at a chosen outer step
and call: the prompt fails with an error naming that outer step, the stop registry is left
empty, and the next prompt is bit-identical to the first run of the fresh server. An interrupt
during the first outer step, during the last, and between the two nested nodes of a chain ends
with ComfyUI's interrupted status and leaves nothing behind either.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from comfy_server import EVENT
from robust_fixtures import assert_no_nested_run_left, own_server, saved
from robust_prompts import build, with_faulty_model
from server_prompts import node

OUTER, INNER = 3, 2
OUTCOMES: Counter = Counter()


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory):
    with own_server(tmp_path_factory, "faults") as server:
        reference = build("nested", outer_steps=OUTER, inner_steps=INNER)
        run = server.run_prompt(reference.prompt)
        assert run.status == "success", run.describe()
        server.reference = saved(server, run, reference)  # the first run of a fresh server
        yield server
    print(f"\nfault cases by outcome: {dict(OUTCOMES)}")


def assert_left_clean(server) -> None:
    assert_no_nested_run_left(server)
    graph = build("nested", outer_steps=OUTER, inner_steps=INNER)
    run = server.run_prompt(graph.prompt)
    assert run.status == "success", run.describe()
    for node_id, tensor in saved(server, run, graph).items():
        assert torch.equal(tensor, server.reference[node_id]), f"output {node_id} differs from a fresh server's"


FAULT_TEXT = {"oom": "out of memory", "runtime_error": "injected fault", "nan": "NaN"}


@pytest.mark.parametrize("shape", ["nested", "custom"])
@pytest.mark.parametrize(("outer_step", "inner_call"), [(1, 1), (2, 2), (3, 1)])
@pytest.mark.parametrize("fault", ["oom", "runtime_error", "nan"])
def test_model_fault_names_the_outer_step_and_leaves_nothing_behind(fault_server, shape, fault, outer_step,
                                                                     inner_call):
    graph = build(shape, outer_steps=OUTER, inner_steps=INNER)
    run = fault_server.run_prompt(with_faulty_model(graph.prompt, fault, outer_step, inner_call))
    sampler = graph.samplers[0]
    assert run.http_status == 200 and run.status == "error", run.describe()
    errors = run.of_type("execution_error")
    assert [e["node_id"] for e in errors] == [sampler], errors
    text = run.error_text()
    assert f"outer step {outer_step}/{OUTER}" in text and FAULT_TEXT[fault] in text, text
    if fault == "oom":  # the type survives, so ComfyUI still treats it as out-of-memory
        assert "OutOfMemoryError" in errors[0]["exception_type"] and "TIPS" in text, errors[0]
    assert [e["step"] for e in run.outer_steps(sampler)] == list(range(1, outer_step)), run.of_type(EVENT)
    assert not run.history.get("outputs"), run.history.get("outputs")
    OUTCOMES[f"{fault}: error naming outer step"] += 1
    assert_left_clean(fault_server)


@pytest.mark.parametrize("outer_step", [1, OUTER], ids=["first_outer_step", "last_outer_step"])
def test_interrupt_during_an_outer_step(fault_server, outer_step):
    graph = build("nested", outer_steps=OUTER, inner_steps=INNER)
    run = fault_server.run_prompt(with_faulty_model(graph.prompt, "interrupt", outer_step, 1))
    interrupted = run.of_type("execution_interrupted")
    assert [(m["node_id"], m["node_type"]) for m in interrupted] == [("5", "NestedKSampler")], run.describe()
    assert run.status == "error" and run.of_type("execution_error") == []
    assert [e["step"] for e in run.outer_steps("5")] == list(range(1, outer_step))
    assert not run.history.get("outputs")
    OUTCOMES["interrupt: interrupted status"] += 1
    assert_left_clean(fault_server)


def test_interrupt_between_the_two_nested_nodes_of_a_chain(fault_server):
    graph = build("chain", outer_steps=4, inner_steps=INNER)
    prompt = graph.prompt
    prompt["30"] = node("NestedTestInterrupt", samples=["10", 0])
    prompt["11"]["inputs"]["latent_image"] = ["30", 0]
    run = fault_server.run_prompt(prompt)
    interrupted = run.of_type("execution_interrupted")
    assert [(m["node_id"], m["node_type"]) for m in interrupted] == [("11", "NestedKSamplerAdvanced")], \
        run.describe()
    assert run.status == "error" and run.of_type("execution_error") == []
    assert len(run.outer_steps("10")) == 2 and run.outer_steps("11") == []
    assert not run.history.get("outputs")
    OUTCOMES["interrupt: interrupted status"] += 1
    assert_left_clean(fault_server)
