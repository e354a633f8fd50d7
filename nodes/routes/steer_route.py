"""POST /nested_diffusion/pause and /nested_diffusion/steer: pause a running nested sampler at
its next outer-step boundary, then steer it (pick, prompt, negative, cfg) and let it continue.

Both answer 400 for a malformed body and 409 when there is nothing to pause or steer, never
500: a bad request must not end anyone's prompt.
"""

from __future__ import annotations

import json

from ..host.access import server_routes
from ..runtime.pause_board import PAUSES
from ..runtime.stop_requests import STOPS

PAUSE_ROUTE = "/nested_diffusion/pause"
STEER_ROUTE = "/nested_diffusion/steer"
PAUSE_HELP = 'body must be empty, {} (pause every nested sampler) or {"prompt_id": "<id>"} as UTF-8 JSON'
STEER_HELP = ('body must be a UTF-8 JSON object {"prompt_id": "<id>", "pick"?: [int], "prompt"?: str, '
              '"negative"?: str, "cfg"?: number}')


def json_object(raw: bytes, help_text: str, allowed: set[str]) -> tuple[dict | None, str | None]:
    """(object, None) for an empty body or a JSON object with only ``allowed`` keys, else (None,
    why not)."""
    if not raw.strip():
        return {}, None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, help_text
    if not isinstance(data, dict):
        return None, f"{help_text}; got a JSON {type(data).__name__}"
    unknown = sorted(set(data) - allowed)
    if unknown:
        return None, f"{help_text}; unknown keys {str(unknown[:5])[:200]}"
    return data, None


def prompt_id_body(raw: bytes, help_text: str) -> tuple[str | None, str | None]:
    """(prompt_id or None for "every running prompt", None) for an empty body, ``{}`` or
    ``{"prompt_id": <string or null>}``; else (None, why not). Anything else is refused rather
    than read as "every prompt", so a malformed request never reaches a prompt it did not name."""
    data, error = json_object(raw, help_text, {"prompt_id"})
    if error is not None:
        return None, error
    prompt_id = data.get("prompt_id")
    if not (prompt_id is None or isinstance(prompt_id, str)):
        return None, "prompt_id must be a string or absent"
    return prompt_id, None


def parse_pause_body(raw: bytes) -> tuple[str | None, str | None]:
    return prompt_id_body(raw, PAUSE_HELP)


def parse_steer_body(raw: bytes) -> tuple[str | None, dict | None, str | None]:
    """(prompt_id, change, None) or (None, None, why not). The change's values are checked by
    the paused run itself, which knows its batch and what it may change."""
    data, error = json_object(raw, STEER_HELP, {"prompt_id", "pick", "prompt", "negative", "cfg"})
    if error is not None:
        return None, None, error
    prompt_id = data.pop("prompt_id", None)
    if not isinstance(prompt_id, str) or not prompt_id:
        return None, None, "prompt_id must name the paused prompt (a string)"
    return prompt_id, data, None


def pause(prompt_id: str | None) -> tuple[int, dict]:
    running = STOPS.running(prompt_id)
    if not running:
        return 409, {"error": "no nested sampler is running" + (f" in prompt {prompt_id[:80]!r}" if prompt_id else "")}
    return 200, {"pausing": PAUSES.request(running)}


def register_steer_routes() -> None:
    found = server_routes()
    if found is None:
        return
    routes, web = found

    @routes.post(PAUSE_ROUTE)
    async def pause_route(request):
        prompt_id, error = parse_pause_body(await request.read())
        if error is not None:
            return web.json_response({"error": error}, status=400)
        status, body = pause(prompt_id)
        return web.json_response(body, status=status)

    @routes.post(STEER_ROUTE)
    async def steer_route(request):
        prompt_id, change, error = parse_steer_body(await request.read())
        if error is not None:
            return web.json_response({"error": error}, status=400)
        status, body = PAUSES.steer(prompt_id, change)
        return web.json_response(body, status=status)
