"""A long sequential run keeps the server's memory and the pack's bookkeeping flat.

Two fresh servers: one with --cache-none, one with ComfyUI's default cache. Each runs a
repeating mix of the pack's graphs (NestedKSampler, the Advanced chain, SamplerCustomAdvanced,
some stopped); RSS is read from /proc after a warm-up and at the end, and the pack's stop
registry and per-run objects are read inside the server (NestedTestPackState).

Default: 100 prompts with --cache-none, 60 with the cache.
NESTED_STRESS=1: 1,000 with --cache-none and 300 with the cache.
RSS growth must stay under 100 MB; the registry must be empty and no per-run object left alive.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp
import pytest

from robust_fixtures import FULL, STOP_ROUTE, own_server, rss_bytes
from robust_prompts import build
from server_prompts import node
from ws_client import WsClient

RUNS = {True: 1000 if FULL else 100, False: 300 if FULL else 60}  # cache_none -> prompts
WARMUP = 10
MAX_GROWTH_MB = 100.0
SHAPES = ("nested", "chain", "custom", "nested_stop")


async def state(client: WsClient, tag: int) -> dict:
    ticket = await client.submit({"1": node("NestedTestPackState", tag=tag)})
    await client.finish(ticket, 60)
    history = (await client.get(f"/history/{ticket.prompt_id}"))[ticket.prompt_id]
    return history["outputs"]["1"]["pack_state"][0]


async def sequential_run(server, prompts: int) -> dict:
    rss, seconds, states = [], [], []
    async with aiohttp.ClientSession() as session:
        client = await WsClient(server.port, "memory").open(session)
        for n in range(prompts):
            shape = SHAPES[n % len(SHAPES)]
            graph = build("nested" if shape == "nested_stop" else shape, seed=n, outer_steps=3, inner_steps=2)
            started = time.monotonic()
            ticket = await client.submit(graph.prompt)
            if shape == "nested_stop":
                await asyncio.wait_for(ticket.stepped.wait(), 120)
                await client.post(STOP_ROUTE, {"prompt_id": ticket.prompt_id})
            await client.finish(ticket, 120)
            seconds.append(time.monotonic() - started)
            assert ticket.outcome == "success", ticket.messages[-3:]
            if n + 1 == WARMUP or n + 1 == prompts or (n + 1) % max(prompts // 4, 1) == 0:
                states.append((n + 1, await state(client, n)))
                rss.append((n + 1, rss_bytes(server)))
        await client.close()
    return {"rss": rss, "seconds": seconds, "states": states}


# Below this much available memory the kernel reclaims the server's pages while it runs: its
# RSS after warm-up was measured at 520 MB instead of 955 MB and "grew" back by 390 MB in 50
# prompts, and servers exited (code 1, nothing logged) after about 50 prompts.
MIN_AVAILABLE_MB = 4096


def available_mb() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


@pytest.mark.parametrize("cache_none", [True, False], ids=["cache_none", "default_cache"])
def test_long_sequential_run_memory(tmp_path_factory, cache_none):
    if available_mb() < MIN_AVAILABLE_MB:
        pytest.skip(f"memory test skipped: {available_mb():.0f} MB available, RSS is only meaningful "
                    f"with {MIN_AVAILABLE_MB} MB or more")
    prompts = RUNS[cache_none]
    with own_server(tmp_path_factory, "memory", cache_none=cache_none) as server:
        result = asyncio.run(sequential_run(server, prompts))
    rss = dict(result["rss"])
    growth_mb = (rss[prompts] - rss[WARMUP]) / 2**20
    quarter = max(prompts // 4, 1)
    first, last = result["seconds"][WARMUP:WARMUP + quarter], result["seconds"][-quarter:]
    print(f"\n{'--cache-none' if cache_none else 'default cache'}: {prompts} prompts; RSS MB "
          f"{ {n: round(b / 2**20, 1) for n, b in rss.items()} }; growth after warm-up {growth_mb:+.1f} MB "
          f"({growth_mb * 1024 / (prompts - WARMUP):+.2f} KB/prompt); median s/prompt first quarter "
          f"{statistics.median(first):.3f}, last quarter {statistics.median(last):.3f}; pack state "
          f"{result['states']}")
    assert growth_mb < MAX_GROWTH_MB
    for _, pack in result["states"]:
        assert pack["registries"] == 1 and pack["running"] == 0, pack
        # issue8b's chain stop rule keeps the marks of the last 32 stopped prompts on purpose.
        assert pack["requested"] <= 32, pack
        assert pack["per_run_objects"] == 0, pack
