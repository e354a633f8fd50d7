"""Every input of every pack node, fuzzed through POST /prompt from its /object_info entry.

Each case is either rejected by validation (HTTP 400) with an error naming the input, or runs
and ends cleanly: success, or an execution error that names the input; never a 500, a dead
server or a prompt that does not end. Cases that would run longer than a bound
(an in-range but costly value) are interrupted and must then end promptly.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp

from comfy_server import PACK_NODES
from node_input_cases import node_input_cases
from robust_fixtures import FULL, assert_no_nested_run_left
from ws_client import WsClient

PAIRS = 1500 if FULL else 30
RUN_BOUND_S = 30.0      # then the case is interrupted ...
END_BOUND_S = 60.0      # ... and must end within this


def names_input(response: dict, node_id: str, names) -> bool:
    text = json.dumps(response.get("node_errors", {}).get(node_id, {})) + json.dumps(response.get("error", {}))
    return any(name in text for name in names)


async def run_cases(server, cases) -> tuple[Counter, list[str]]:
    outcomes, problems, errors = Counter(), [], Counter()
    async with aiohttp.ClientSession() as session:
        client = await WsClient(server.port, "fuzz").open(session)
        try:
            for case in cases:
                ticket = await client.submit(case.graph.prompt)
                if ticket.http_status == 400:
                    if names_input(ticket.response, case.node_id, case.inputs):
                        outcomes["rejected by validation, naming the input"] += 1
                    elif case.links and case.node_id in ticket.response.get("node_errors", {}):
                        # ComfyUI's own link check fails on a malformed or dangling link and
                        # reports it on this node, under the input of the node downstream of it.
                        outcomes["rejected by ComfyUI's link validation, naming the node"] += 1
                    else:
                        outcomes["rejected by validation, not naming the input"] += 1
                        problems.append(f"{case.label}: 400 without naming the input: {ticket.response}"[:600])
                    continue
                if ticket.http_status != 200:
                    problems.append(f"{case.label}: HTTP {ticket.http_status} {ticket.response}")
                    outcomes[f"HTTP {ticket.http_status}"] += 1
                    continue
                await client.finish(ticket, END_BOUND_S, interrupt_after=RUN_BOUND_S)
                bounded = any(m["type"] == "test_interrupted_after" for m in ticket.messages)
                outcomes[f"ran: {ticket.outcome}" + (" (after the time bound)" if bounded else "")] += 1
                for error in ticket.of_type("execution_error"):
                    message = str(error.get("exception_message"))
                    errors[(tuple(sorted(case.inputs)), error.get("exception_type"), message.split("\n")[0][:90])] += 1
                    if any(name in message for name in case.inputs):
                        continue
                    if any(case.inputs[name] is None for name in case.links):
                        # At validation ComfyUI hands a node None for a linked input too, so a
                        # literal null there cannot be refused early; it fails when the node runs.
                        outcomes["of which: null given for a link input, error at run time"] += 1
                    else:
                        problems.append(f"{case.label}: execution error not naming the input: {message[:300]}")
                if server.proc.poll() is not None:
                    problems.append(f"{case.label}: the server died")
                    break
        finally:
            await client.close()
    print("\nexecution errors (inputs, type, message):\n" + "\n".join(f"  {n} x {k}" for k, n in errors.most_common()))
    return outcomes, problems


def test_every_pack_node_input_fuzzed_through_prompt(nested_none):
    cases = node_input_cases(nested_none.object_info(), PACK_NODES, pairs=PAIRS)
    outcomes, problems = asyncio.run(run_cases(nested_none, cases))
    print(f"\n{len(cases)} node-input cases by outcome: {dict(outcomes)}")
    assert sum(n for outcome, n in outcomes.items() if not outcome.startswith("of which")) == len(cases) >= 500
    assert not problems, "\n".join(problems[:20])
    assert nested_none.proc.poll() is None
    assert_no_nested_run_left(nested_none)
