"""POST /nested_diffusion/stop {"prompt_id"?: str}: stop and keep the current image.

Answers 200 {"stopping": [prompt ids]} or 409 when no nested sampler is running, and 400 for
any body that is not empty, ``{}`` or ``{"prompt_id": <string or null>}``.
"""

from __future__ import annotations

import json

from .host_access import prompt_server
from .stop_requests import STOPS

ROUTE = "/nested_diffusion/stop"
BODY_HELP = 'body must be empty, {} (stop every nested sampler) or {"prompt_id": "<id>"} as UTF-8 JSON'


def parse_stop_body(raw: bytes) -> tuple[str | None, str | None]:
    """(prompt_id, None) for a well-formed body, else (None, the reason it is not).

    The Content-Type is not checked: the web extension and ComfyUI's own routes send JSON
    without it. Anything but a JSON object is refused rather than read as "stop everything",
    so a malformed request never ends a prompt it did not name.
    """
    if not raw.strip():
        return None, None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None, BODY_HELP
    if not isinstance(data, dict):
        return None, f"{BODY_HELP}; got a JSON {type(data).__name__}"
    unknown = sorted(set(data) - {"prompt_id"})
    if unknown:
        return None, f"{BODY_HELP}; unknown keys {str(unknown[:5])[:200]}"
    prompt_id = data.get("prompt_id")
    if not (prompt_id is None or isinstance(prompt_id, str)):
        return None, "prompt_id must be a string or absent"
    return prompt_id, None


def register_stop_route() -> None:
    server = prompt_server()
    if server is None:  # imported without a running server (in-process use)
        return
    from aiohttp import web

    @server.routes.post(ROUTE)
    async def stop(request):
        prompt_id, error = parse_stop_body(await request.read())
        if error is not None:
            return web.json_response({"error": error}, status=400)
        stopping = STOPS.request(prompt_id)
        return web.json_response({"stopping": stopping}, status=200 if stopping else 409)
