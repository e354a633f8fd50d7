"""Debian's chromium, headless, driven over the DevTools protocol with aiohttp (no browser
download, no extra package): enough to load ComfyUI's frontend, run JavaScript in it, click,
read its console and take screenshots."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from comfy_server import free_port

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
# The flags that work on these machines (no GPU, no sandbox, nothing fetched from outside).
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-proxy-server", "--window-size=1400,900", "--hide-scrollbars")


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Page:
    """One chromium process and its first tab."""

    def __init__(self, executable: str, workdir: Path):
        self.executable = executable
        self.workdir = Path(workdir)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.session: aiohttp.ClientSession | None = None
        self.ws = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self.console: list[dict] = []      # {"level", "text", "source"} of console calls and log entries
        self.exceptions: list[str] = []    # uncaught exceptions in the page

    async def start(self) -> "Page":
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        self._log = open(self.workdir / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [self.executable, *HEADLESS_FLAGS, f"--user-data-dir={profile}",
             f"--remote-debugging-port={self.port}", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
        self.session = aiohttp.ClientSession()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self.proc.returncode}; see {self._log.name}")
            try:
                async with self.session.get(f"http://127.0.0.1:{self.port}/json/list") as r:
                    targets = await r.json()
                page = next(t for t in targets if t.get("type") == "page")
                break
            except (aiohttp.ClientError, StopIteration):
                if time.monotonic() > deadline:
                    raise BrowserError("chromium's DevTools endpoint did not come up in 60 s")
                await asyncio.sleep(0.2)
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Runtime", "Log", "Page"):
            await self.send(f"{domain}.enable")
        return self

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                self._event(data.get("method"), data.get("params", {}))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BrowserError("DevTools connection closed"))

    def _event(self, method: str, params: dict) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            # Where it was logged from, so that an error can be traced to the file that logged it.
            frames = params.get("stackTrace", {}).get("callFrames", [])
            text += "".join(f"\n    at {f.get('functionName') or '?'} ({f.get('url')}:{f.get('lineNumber')})"
                            for f in frames[:8])
            self.console.append({"level": params.get("type"), "text": text, "source": "console"})
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.console.append({"level": entry.get("level"), "text": f"{entry.get('text')} {entry.get('url', '')}",
                                 "source": entry.get("source")})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))

    async def send(self, method: str, **params: Any) -> dict:
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = future
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, 120)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise), as JSON."""
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                                 returnByValue=True, userGesture=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {what}: {expression}")
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def click(self, x: float, y: float) -> None:
        """A real mouse click at page coordinates, as a user makes it."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def right_click(self, x: float, y: float) -> None:
        """A real right-button click at page coordinates (the browser's contextmenu event follows)."""
        await self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="right", buttons=2, clickCount=1)

    async def press_escape(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", type=kind, key="Escape", code="Escape",
                            windowsVirtualKeyCode=27)

    async def screenshot(self, path: Path) -> Path:
        data = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    async def screenshot_region(self, x: float, y: float, width: float, height: float) -> bytes:
        """PNG bytes of a page rectangle as it is drawn now (a fresh frame: animations advance)."""
        data = await self.send("Page.captureScreenshot", format="png",
                               clip={"x": x, "y": y, "width": width, "height": height, "scale": 1})
        return base64.b64decode(data["data"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def errors(self) -> list[str]:
        return self.exceptions + [c["text"] for c in self.console if c["level"] == "error"]

    def problems_mentioning(self, *needles: str) -> list[str]:
        """Errors and warnings (messages, stacks, failed URLs) that name any of ``needles``."""
        texts = self.exceptions + [c["text"] for c in self.console if c["level"] in ("error", "warning")]
        return [t for t in texts if any(n in t for n in needles)]
