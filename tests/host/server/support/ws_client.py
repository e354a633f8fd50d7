"""An asyncio websocket client that keeps several prompts in flight (load and fuzz tests).

Unlike ComfyServer.run_prompt (one prompt, one fresh client), one WsClient submits many prompts
on one websocket and sorts what arrives by prompt id, keeping every nested_diffusion.outer_step
event it receives so a test can check that none belongs to another client's prompt.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import aiohttp

from comfy_server import EVENT


@dataclass
class Ticket:
    """One submitted prompt as this client saw it."""
    http_status: int
    response: dict
    prompt_id: str | None = None
    messages: list[dict] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stepped: asyncio.Event = field(default_factory=asyncio.Event)  # its first outer_step event arrived

    def of_type(self, kind: str) -> list[dict]:
        return [m["data"] for m in self.messages if m.get("type") == kind]

    @property
    def outcome(self) -> str:
        """'rejected' (HTTP 400), 'error', 'interrupted' or 'success' (once done)."""
        if self.prompt_id is None:
            return "rejected"
        if self.of_type("execution_error"):
            return "error"
        if self.of_type("execution_interrupted"):
            return "interrupted"
        return "success"


class WsClient:
    def __init__(self, port: int, name: str = ""):
        self.port = port
        self.name = name
        self.client_id = uuid.uuid4().hex
        self.tickets: dict[str, Ticket] = {}
        self.events: list[dict] = []        # every outer_step event this client received
        self.unattributed: list[dict] = []  # prompt-scoped messages for prompts it did not submit
        self.binary_frames = 0
        self._ws = None
        self._reader = None
        self.session: aiohttp.ClientSession | None = None

    async def open(self, session: aiohttp.ClientSession) -> "WsClient":
        self.session = session
        self._ws = await session.ws_connect(f"ws://127.0.0.1:{self.port}/ws?clientId={self.client_id}",
                                            max_msg_size=0)
        while True:  # the server's first message is its status; after it, prompts are ours
            msg = await asyncio.wait_for(self._ws.receive(), 60)
            if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data).get("type") == "status":
                break
        self._reader = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.binary_frames += 1
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            body = data.get("data") or {}
            if data.get("type") == EVENT:
                self.events.append(body)
            prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
            if prompt_id is None:
                continue
            ticket = self.tickets.get(prompt_id)
            if ticket is None:
                # Interrupts and errors are broadcast by ComfyUI; the pack's events never are.
                if data.get("type") not in ("execution_interrupted", "execution_error", "status"):
                    self.unattributed.append(data)
                continue
            ticket.messages.append(data)
            if data.get("type") == EVENT:
                ticket.stepped.set()
            if data.get("type") == "executing" and body.get("node") is None:
                ticket.done.set()

    async def submit(self, prompt: dict) -> Ticket:
        async with self.session.post(f"http://127.0.0.1:{self.port}/prompt",
                                     data=json.dumps({"prompt": prompt, "client_id": self.client_id}),
                                     headers={"Content-Type": "application/json"}) as r:
            text = await r.text()
            try:
                response = json.loads(text)
            except json.JSONDecodeError:
                response = {"raw": text}
            ticket = Ticket(r.status, response)
        if r.status == 200:
            ticket.prompt_id = response["prompt_id"]
            self.tickets[ticket.prompt_id] = ticket
        return ticket

    async def post(self, path: str, body: dict) -> tuple[int, object]:
        async with self.session.post(f"http://127.0.0.1:{self.port}{path}", json=body) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def get(self, path: str) -> object:
        async with self.session.get(f"http://127.0.0.1:{self.port}{path}") as r:
            return await r.json()

    async def finish(self, ticket: Ticket, seconds: float, interrupt_after: float | None = None) -> Ticket:
        """Wait for the prompt to end; after ``interrupt_after`` s interrupt it (targeted), and
        raise TimeoutError if it has not ended ``seconds`` s after that."""
        if ticket.prompt_id is None:
            return ticket
        if interrupt_after is not None:
            try:
                await asyncio.wait_for(ticket.done.wait(), interrupt_after)
                return ticket
            except asyncio.TimeoutError:
                await self.post("/interrupt", {"prompt_id": ticket.prompt_id})
                ticket.messages.append({"type": "test_interrupted_after", "data": {"seconds": interrupt_after}})
        await asyncio.wait_for(ticket.done.wait(), seconds)
        return ticket
