"""POST /nested_diffusion/stop under hostile bodies and cross-origin requests.

Fuzz: every generated body (stop_route_bodies) is answered 200/409 when well-formed and 400
otherwise, never 500, within the request timeout; first on an idle server, then while a long
prompt runs, which none of the non-targeting bodies may stop: a stop aimed at it afterwards
still finds it running.

Origin: the route sits behind ComfyUI's own middleware, so a cross-origin POST is refused
exactly as ComfyUI refuses one to /prompt or /interrupt. Without --enable-cors-header (both
hosts): an Origin whose host differs from the loopback Host header gets 403; 0.33.0 also
refuses any request marked ``Sec-Fetch-Site: cross-site``, which 0.3.64 lets through. With
--enable-cors-header <origin> ComfyUI installs no origin check at all and answers every route,
the pack's included, with that Access-Control-Allow-Origin.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from comfy_server import EVENT
from raw_http import raw_post
from robust_fixtures import FULL, STOP_ROUTE, own_server
from server_prompts import base_graph, nested_ksampler_node, save_latent
from stop_route_bodies import stop_route_bodies

FUZZ_BODIES = 2000 if FULL else 520


def fuzz(server, bodies) -> Counter:
    outcomes: Counter = Counter()
    slowest = 0.0
    for body in bodies:
        answer = raw_post(server.port, STOP_ROUTE, body.data, body.headers())
        slowest = max(slowest, answer.seconds)
        outcomes[(body.kind, answer.status)] += 1
        want = (409,) if body.ok else (400,)
        assert answer.status in want, (body.kind, body.content_type, (body.data or b"")[:80], answer.status,
                                       answer.body[:300], server.log_tail(20))
        if answer.status == 409:
            assert answer.body == b'{"stopping": []}', answer.body
    print(f"\n{len(bodies)} bodies, slowest answer {slowest:.3f} s; by status: "
          f"{dict(Counter(status for (_, status), n in outcomes.items() for _ in range(n)))}")
    return outcomes


def test_fuzzed_bodies_on_an_idle_server(nested_none):
    bodies = stop_route_bodies(FUZZ_BODIES, seed=1)
    outcomes = fuzz(nested_none, bodies)
    assert sum(outcomes.values()) == len(bodies) >= 500
    assert nested_none.proc.poll() is None
    assert "Error handling request" not in nested_none.log_text(), nested_none.log_tail(40)


def test_fuzzed_bodies_never_stop_a_running_prompt_they_do_not_name(nested_none):
    prompt = base_graph(size=128)
    prompt["5"] = nested_ksampler_node(outer_steps=400, inner_steps=4, scheduler="simple")
    prompt["6"] = save_latent("5", 0)
    first_step, result = threading.Event(), []

    def on_message(server, message):
        if message.get("type") == EVENT:
            first_step.set()

    runner = threading.Thread(target=lambda: result.append(
        nested_none.run_prompt(prompt, on_message=on_message, timeout=600)), daemon=True)
    runner.start()
    assert first_step.wait(120), "the long prompt never reached its first outer step"
    bodies = [b for b in stop_route_bodies(FUZZ_BODIES, seed=2) if not b.stop_all]
    fuzz(nested_none, bodies)
    # Still running: the stop aimed at it now is the first to find it.
    queue = nested_none.get_json("/queue")
    running_id = queue["queue_running"][0][1]
    status, body = nested_none.request("POST", STOP_ROUTE, {"prompt_id": running_id})
    assert (status, body) == (200, {"stopping": [running_id]})
    runner.join(300)
    run = result[0]
    assert run.status == "success", run.describe()
    assert 1 <= len(run.outer_steps("5")) < 400


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory):
    with own_server(tmp_path_factory, "cors", extra_args=("--enable-cors-header", "https://allowed.example")) as s:
        yield s


def refusals(server, headers: dict[str, str]) -> dict[str, int]:
    """Status of the same cross-origin POST to the pack's route and to two of ComfyUI's own."""
    return {path: raw_post(server.port, path, b"{}", {"Content-Type": "application/json", **headers}).status
            for path in (STOP_ROUTE, "/prompt", "/interrupt")}


def test_cross_origin_post_is_refused_like_comfyuis_own_routes(nested_none):
    port = nested_none.port
    refused = refusals(nested_none, {"Origin": "http://evil.example"})
    assert refused == {STOP_ROUTE: 403, "/prompt": 403, "/interrupt": 403}, refused
    refused = refusals(nested_none, {"Origin": "http://evil.example:8188"})
    assert set(refused.values()) == {403}, refused
    # Same origin (the frontend's own requests) is served: 409 idle, /prompt 400 for the empty prompt.
    same = refusals(nested_none, {"Origin": f"http://127.0.0.1:{port}"})
    assert same[STOP_ROUTE] == 409 and same["/prompt"] == 400 and same["/interrupt"] == 200, same
    # A browser's fetch from another site without an Origin header: 0.33.0 refuses it (403),
    # 0.3.64 has no such check; either way the pack's route answers as ComfyUI's own do.
    cross_site = refusals(nested_none, {"Sec-Fetch-Site": "cross-site"})
    assert len({status == 403 for status in cross_site.values()}) == 1, cross_site
    has_check = "Sec-Fetch-Site" in (Path(os.environ["COMFYUI_PATH"]) / "server.py").read_text()
    assert (cross_site[STOP_ROUTE] == 403) == has_check, cross_site
    print(f"\nOrigin evil: {refused}; same origin: {same}; Sec-Fetch-Site cross-site: {cross_site}")


def test_with_enable_cors_header_comfyui_checks_no_origin(cors_server):
    answers = refusals(cors_server, {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert answers[STOP_ROUTE] == 409 and 403 not in answers.values(), answers
    answer = raw_post(cors_server.port, STOP_ROUTE, b"{}", {"Origin": "http://evil.example"})
    print(f"\n--enable-cors-header: {answers}")
    assert answer.status == 409 and answer.headers.get("Access-Control-Allow-Origin") == "https://allowed.example"
