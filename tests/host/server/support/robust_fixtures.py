"""Servers of their own for the robustness tests: the fault tests compare against the first run
of a fresh server, and the memory and load tests measure a process nothing else has used."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from comfy_server import PACK_NODES, ComfyServer
from server_prompts import load_latent

STOP_ROUTE = "/nested_diffusion/stop"
# Full-size load, fuzz and memory runs (minutes to tens of minutes); the default sizes catch the
# same failures in a few minutes on a shared 2-core machine.
FULL = os.environ.get("NESTED_STRESS") == "1"


@contextmanager
def own_server(tmp_path_factory, name: str, **kwargs):
    server = ComfyServer(os.environ["COMFYUI_PATH"], tmp_path_factory.mktemp(name), kwargs.pop("preview", "none"),
                         **kwargs)
    try:
        listed = server.start().object_info()
        missing = [name for name in PACK_NODES if name not in listed]
        assert not missing, f"the pack's nodes {missing} did not load:\n{server.log_tail()}"
        yield server
    finally:
        server.stop()


def rss_bytes(server) -> int:
    """Resident set size (VmRSS) of the server process, from /proc (Linux). On a machine short
    of memory the kernel drops and re-faults file-backed pages, which moves this figure too."""
    code = server.proc.poll()
    assert code is None, f"the server exited with {code}:\n{server.log_tail(30)}"
    pid = server.proc.pid
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def assert_no_nested_run_left(server) -> None:
    """The stop registry is empty: a stop aimed at every running nested sampler finds none."""
    assert server.request("POST", STOP_ROUTE, {}) == (409, {"stopping": []})


def saved(server, run, graph) -> dict[str, torch.Tensor]:
    """Every SaveLatent output of ``graph`` in ``run``, checked complete and finite."""
    out = {}
    for node_id, shape in graph.saves.items():
        tensor = load_latent(server.saved_latent_path(run, node_id))
        assert tuple(tensor.shape) == shape, (node_id, tensor.shape, shape)
        assert bool(torch.isfinite(tensor).all()), node_id
        out[node_id] = tensor
    return out
