"""GET /nested_diffusion/model_calls: the model-call table (model_calls.py) for every sampler
this host lists, so the panel plans a run's cost from the same table as the progress bar."""

from __future__ import annotations

import comfy.samplers

from .host_access import prompt_server
from .model_calls import call_table

ROUTE = "/nested_diffusion/model_calls"


def register_model_calls_route() -> None:
    server = prompt_server()
    if server is None:  # imported without a running server (in-process use)
        return
    from aiohttp import web

    @server.routes.get(ROUTE)
    async def model_calls(request):
        return web.json_response({"samplers": call_table(comfy.samplers.SAMPLER_NAMES)})
