"""POST /nested_diffusion/stop {"prompt_id"?: str}: stop and keep the current image.

Answers 200 {"stopping": [prompt ids]} or 409 when no nested sampler is running.
"""

from __future__ import annotations

import json

from .host_access import prompt_server
from .stop_requests import STOPS

ROUTE = "/nested_diffusion/stop"


def register_stop_route() -> None:
    server = prompt_server()
    if server is None:  # imported without a running server (in-process use)
        return
    from aiohttp import web

    @server.routes.post(ROUTE)
    async def stop(request):
        data = {}
        if request.can_read_body:
            try:
                data = await request.json()
            except json.JSONDecodeError:
                return web.json_response({"error": "body must be JSON: {\"prompt_id\": <string>} or {}"}, status=400)
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if not (prompt_id is None or isinstance(prompt_id, str)):
            return web.json_response({"error": "prompt_id must be a string or absent"}, status=400)
        stopping = STOPS.request(prompt_id)
        return web.json_response({"stopping": stopping}, status=200 if stopping else 409)
