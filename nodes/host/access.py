"""Where the running ComfyUI server and the executing prompt are looked up, for the stop route
and the outer-step reporter alike."""

from __future__ import annotations

import sys


def executing_context():
    """The node id and prompt id being executed, or None on hosts without
    ``comfy_execution.utils.get_executing_context`` (there the event falls back to the
    server's last node and prompt ids)."""
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:
        return None
    return get_executing_context()


def prompt_server():
    """The running PromptServer, or None in-process. Looked up, not imported: main.py imports
    ``server`` before any node runs, and importing it anywhere else fails and is slow."""
    module = sys.modules.get("server")
    return getattr(getattr(module, "PromptServer", None), "instance", None)


def server_routes():
    """(the running server's route table, aiohttp's ``web``), or None in-process, where no route
    is registered."""
    server = prompt_server()
    if server is None:
        return None
    from aiohttp import web

    return server.routes, web


def submitting_client():
    """(the running server, the submitting client's id), or None when no client submitted the
    running prompt (in-process): events go to that client only, never broadcast to everyone."""
    server = prompt_server()
    client_id = getattr(server, "client_id", None)
    return None if client_id is None else (server, client_id)
