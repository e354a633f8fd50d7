"""Four websocket clients at once on one real server, each with its own mix of nested graphs
(NestedKSampler, the Advanced chain, SamplerCustomAdvanced + SamplerNestedDiffusion), plain
KSampler graphs, targeted stops, targeted interrupts and bad prompts; and a client that
disconnects in the middle of its prompt.

Checked: every client receives the nested_diffusion.outer_step events of its own prompts and
none of anyone else's; every successful prompt's saved outputs are complete and finite; a stop
or interrupt aimed at one prompt ends no other; the server keeps serving.

Default: 4 x 15 prompts. NESTED_STRESS=1: 250 prompts (4 x 62-63).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass

import aiohttp
import pytest
import torch

from robust_fixtures import FULL, STOP_ROUTE, assert_no_nested_run_left, own_server
from robust_prompts import Graph, build
from server_prompts import load_latent
from ws_client import EVENT, Ticket, WsClient

CLIENTS = 4
PROMPTS = 250 if FULL else 60
PROMPT_BOUND_S = 300.0
KINDS = ("nested", "chain", "custom", "ksampler", "stop", "interrupt", "invalid", "failing")
WEIGHTS = (20, 15, 15, 15, 12, 10, 7, 6)


@dataclass
class Submitted:
    kind: str
    graph: Graph | None
    ticket: Ticket
    control: tuple[int, object] | None = None  # answer to the stop / interrupt this client sent


def plan(client_index: int, count: int) -> list[tuple[str, Graph]]:
    rng = random.Random(1000 + client_index)
    items = []
    for n in range(count):
        kind = rng.choices(KINDS, WEIGHTS)[0]
        seed = client_index * 100_000 + n
        if kind in ("stop", "interrupt"):
            graph = build(rng.choice(["nested", "custom"]), seed=seed, outer_steps=6, inner_steps=3)
        elif kind == "invalid":
            graph = build("nested", seed=seed)
            name, value = rng.choice([("outer_steps", 0), ("sampler_name", "nope"), ("cfg", -1.0), ("scheduler", "")])
            graph.prompt["5"]["inputs"][name] = value
        elif kind == "failing":
            graph = build("nested", seed=seed)
            graph.prompt["5"]["inputs"]["denoise"] = 0.0  # in range for ComfyUI, an error for the node
        else:
            graph = build(kind, seed=seed, outer_steps=rng.choice([2, 3, 4]), inner_steps=rng.choice([1, 2]),
                          scheduler=rng.choice(["simple", "normal", "karras", "paper_faithful"])
                          if kind != "ksampler" else "normal")
        items.append((kind, graph))
    return items


async def run_client(client: WsClient, items) -> list[Submitted]:
    done = []
    for kind, graph in items:
        ticket = await client.submit(graph.prompt)
        item = Submitted(kind, graph, ticket)
        done.append(item)
        if ticket.prompt_id is None:
            continue
        if kind in ("stop", "interrupt"):
            stepped = asyncio.create_task(ticket.stepped.wait())
            finished = asyncio.create_task(ticket.done.wait())
            await asyncio.wait({stepped, finished}, timeout=PROMPT_BOUND_S, return_when=asyncio.FIRST_COMPLETED)
            for task in (stepped, finished):
                task.cancel()
            if not ticket.done.is_set():
                path = STOP_ROUTE if kind == "stop" else "/interrupt"
                item.control = await client.post(path, {"prompt_id": ticket.prompt_id})
        await client.finish(ticket, PROMPT_BOUND_S)
    return done


def check_outputs(server, history: dict, item: Submitted, events: list[dict]) -> list[str]:
    """Problems with one successful prompt's events and saved outputs ([] when all is well)."""
    problems = []
    graph, pid = item.graph, item.ticket.prompt_id
    stopped = item.kind == "stop" and item.control is not None and item.control[0] == 200
    for node_id in graph.samplers:
        steps = [e["step"] for e in events if e.get("node") == node_id]
        complete = steps == list(range(1, graph.outer_steps + 1))
        partial = 1 <= len(steps) < graph.outer_steps and steps == list(range(1, len(steps) + 1))
        if not (complete or (stopped and partial)):
            problems.append(f"{item.kind} {pid}: node {node_id} outer steps {steps} of {graph.outer_steps}"
                            f" (stop answer {item.control})")
    outputs = history.get("outputs", {})
    for node_id, shape in graph.saves.items():
        if node_id not in outputs:
            problems.append(f"{item.kind} {pid}: output {node_id} lost")
            continue
        tensor = load_latent(server.output_dir / outputs[node_id]["latents"][0]["subfolder"]
                             / outputs[node_id]["latents"][0]["filename"])
        want = shape
        if stopped and node_id != next(iter(graph.saves)):  # outer_step_images of a stopped run
            want = (len([e for e in events if e.get("node") == graph.samplers[0]]),) + shape[1:]
        if tuple(tensor.shape) != want or not bool(torch.isfinite(tensor).all()):
            problems.append(f"{item.kind} {pid}: output {node_id} shape {tuple(tensor.shape)} (want {want}), "
                            f"finite {bool(torch.isfinite(tensor).all())}")
    return problems


async def load(server) -> tuple[dict, list[str]]:
    per_client = [PROMPTS // CLIENTS + (1 if i < PROMPTS % CLIENTS else 0) for i in range(CLIENTS)]
    async with aiohttp.ClientSession() as session:
        clients = [await WsClient(server.port, f"client{i}").open(session) for i in range(CLIENTS)]
        results = await asyncio.gather(*(run_client(c, plan(i, n)) for i, (c, n) in
                                         enumerate(zip(clients, per_client))))
        histories = {}
        for items in results:
            for item in items:
                if item.ticket.prompt_id is not None:
                    got = await clients[0].get(f"/history/{item.ticket.prompt_id}")
                    histories[item.ticket.prompt_id] = got.get(item.ticket.prompt_id, {})
        for client in clients:
            await client.close()

    problems, table = [], {}
    all_ids = {item.ticket.prompt_id for items in results for item in items}
    for client, items in zip(clients, results):
        own = {item.ticket.prompt_id for item in items if item.ticket.prompt_id}
        crossed = [e for e in client.events if e.get("prompt_id") not in own]
        outcomes = Counter(item.ticket.outcome for item in items)
        lost = 0
        for item in items:
            ticket = item.ticket
            events = [m["data"] for m in ticket.messages if m.get("type") == EVENT]
            if item.control is not None and item.kind == "stop":
                status, body = item.control
                if status == 200 and body != {"stopping": [ticket.prompt_id]}:
                    problems.append(f"stop of {ticket.prompt_id} answered {body}")
                elif status not in (200, 409):
                    problems.append(f"stop of {ticket.prompt_id} answered HTTP {status}")
            if item.kind in ("invalid",) and ticket.outcome != "rejected":
                problems.append(f"invalid prompt was not rejected: {ticket.response}")
            if item.kind == "failing" and ticket.outcome != "error":
                problems.append(f"failing prompt {ticket.prompt_id} ended {ticket.outcome}")
            if ticket.outcome == "interrupted" and item.kind != "interrupt":
                problems.append(f"{item.kind} prompt {ticket.prompt_id} of {client.name} was interrupted")
            if ticket.outcome == "error" and item.kind != "failing":
                problems.append(f"{item.kind} prompt {ticket.prompt_id} failed: {ticket.of_type('execution_error')}")
            if ticket.outcome == "success":
                found = check_outputs(server, histories[ticket.prompt_id], item, events)
                lost += sum("lost" in p or "shape" in p for p in found)
                problems += found
        table[client.name] = {"prompts": len(items), **outcomes, "stops 200": sum(
            1 for i in items if i.kind == "stop" and i.control and i.control[0] == 200),
            "events": len(client.events), "crossed events": len(crossed), "lost outputs": lost}
        problems += [f"{client.name} received another client's event {e}" for e in crossed[:5]]
        if any(e.get("prompt_id") not in all_ids for e in crossed):
            problems.append(f"{client.name} received events of prompts nobody here submitted")
    return table, problems


@pytest.fixture(scope="module")
def load_server(tmp_path_factory):
    with own_server(tmp_path_factory, "load") as server:
        yield server


def test_four_clients_at_once(load_server):
    table, problems = asyncio.run(load(load_server))
    print("\nload, per client: " + "".join(f"\n  {name}: {row}" for name, row in table.items()))
    totals = Counter()
    for row in table.values():
        totals.update(row)
    print(f"  total: {dict(totals)}")
    assert totals["prompts"] == PROMPTS
    assert not problems, "\n".join(problems[:20])
    assert totals["crossed events"] == 0 and totals["lost outputs"] == 0
    assert totals["success"] > PROMPTS // 2 and totals["stops 200"] > 0 and totals["interrupted"] > 0
    assert load_server.proc.poll() is None
    assert_no_nested_run_left(load_server)


async def disconnect_mid_run(server) -> tuple[str, int]:
    graph = build("nested", seed=7, outer_steps=6, inner_steps=3)
    async with aiohttp.ClientSession() as session:
        leaver = await WsClient(server.port, "leaver").open(session)
        ticket = await leaver.submit(graph.prompt)
        await asyncio.wait_for(ticket.stepped.wait(), PROMPT_BOUND_S)
        await leaver.close()  # gone after outer step 1; the server keeps sending to nobody
        watcher = await WsClient(server.port, "watcher").open(session)
        for _ in range(int(PROMPT_BOUND_S * 4)):
            history = (await watcher.get(f"/history/{ticket.prompt_id}")).get(ticket.prompt_id)
            if history and history.get("status", {}).get("completed") is not None:
                break
            await asyncio.sleep(0.25)
        await watcher.close()
    return ticket.prompt_id, history, graph, len(watcher.events)


def test_a_client_that_disconnects_mid_run(load_server):
    log_before = len(load_server.log_text())
    prompt_id, history, graph, watcher_events = asyncio.run(disconnect_mid_run(load_server))
    assert history and history["status"]["status_str"] == "success", history
    for node_id, shape in graph.saves.items():
        item = history["outputs"][node_id]["latents"][0]
        tensor = load_latent(load_server.output_dir / item["subfolder"] / item["filename"])
        assert tuple(tensor.shape) == shape and bool(torch.isfinite(tensor).all())
    assert watcher_events == 0  # the gone client's events were not redirected to anyone else
    new_log = load_server.log_text()[log_before:]
    assert "Traceback" not in new_log and "Error" not in new_log, new_log[-3000:]
    assert load_server.proc.poll() is None
    assert_no_nested_run_left(load_server)
