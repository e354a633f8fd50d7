"""Fixtures for the server-level tests: one real ComfyUI process per preview method, started
lazily and shared by the whole session (startup costs seconds, a tiny prompt well under one).

The tests are grouped by subject in the folders beside this file; their helpers (the server
process, websocket client, prompt builders, assertions, the test-only node packs in
testing_nodes/) live in support/, put on sys.path here and imported by plain name."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SUPPORT = str(Path(__file__).resolve().parent / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)

from comfy_server import ComfyServer  # noqa: E402  (support/, on sys.path from here on)

PREVIEW_METHODS = ("none", "latent2rgb")


@pytest.fixture(scope="session")
def comfy_servers(tmp_path_factory):
    servers: dict[str, ComfyServer] = {}

    def get(preview_method: str) -> ComfyServer:
        if not servers:  # launch every server at once: their slow imports overlap
            for method in PREVIEW_METHODS:
                workdir = tmp_path_factory.mktemp(f"comfy-{method}")
                servers[method] = ComfyServer(os.environ["COMFYUI_PATH"], workdir, method).launch()
        return servers[preview_method].wait_ready()

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture(params=PREVIEW_METHODS)
def comfy(request, comfy_servers) -> ComfyServer:
    """The server under each preview method: the pack's previews must not depend on it."""
    return comfy_servers(request.param)


@pytest.fixture
def comfy_none(comfy_servers) -> ComfyServer:
    """The server with ComfyUI's default ``--preview-method none``."""
    return comfy_servers("none")


@pytest.fixture
def nested(comfy) -> ComfyServer:
    return comfy.require_pack_nodes()


@pytest.fixture
def nested_none(comfy_none) -> ComfyServer:
    return comfy_none.require_pack_nodes()
