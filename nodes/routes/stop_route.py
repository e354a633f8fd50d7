"""POST /nested_diffusion/stop {"prompt_id"?: str}: stop and keep the current image.

Answers 200 {"stopping": [prompt ids]} or 409 when no nested sampler is running, and 400 for
any body that is not empty, ``{}`` or ``{"prompt_id": <string or null>}``.
"""

from __future__ import annotations

from ..host.access import server_routes
from ..runtime.stop_requests import STOPS
from .steer_route import prompt_id_body

ROUTE = "/nested_diffusion/stop"
BODY_HELP = 'body must be empty, {} (stop every nested sampler) or {"prompt_id": "<id>"} as UTF-8 JSON'


def parse_stop_body(raw: bytes) -> tuple[str | None, str | None]:
    """(prompt_id, None) for a well-formed body, else (None, the reason it is not). The
    Content-Type is not checked: the web extension and ComfyUI's own routes send JSON without it."""
    return prompt_id_body(raw, BODY_HELP)


def register_stop_route() -> None:
    found = server_routes()
    if found is None:
        return
    routes, web = found

    @routes.post(ROUTE)
    async def stop(request):
        prompt_id, error = parse_stop_body(await request.read())
        if error is not None:
            return web.json_response({"error": error}, status=400)
        stopping = STOPS.request(prompt_id)
        return web.json_response({"stopping": stopping}, status=200 if stopping else 409)
