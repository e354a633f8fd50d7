"""GET /nested_diffusion/model_calls: the model-call table (model_calls.py) for every sampler
this host lists, so the panel plans a run's cost from the same table as the progress bar."""

from __future__ import annotations

import comfy.samplers

from ..host.access import server_routes
from ..runtime.model_calls import call_table

ROUTE = "/nested_diffusion/model_calls"


def register_model_calls_route() -> None:
    found = server_routes()
    if found is None:
        return
    routes, web = found

    @routes.get(ROUTE)
    async def model_calls(request):
        return web.json_response({"samplers": call_table(comfy.samplers.SAMPLER_NAMES)})
