"""A real ComfyUI server process for the server-level tests, and a websocket client for it.

The server is ``main.py`` of the checkout named by COMFYUI_PATH, run with the Python that runs
pytest. It loads two custom-node packs through an ``extra_model_paths`` yaml:

* the pack under test, through a symlink ``nested-diffusion`` -> the repository root, so ComfyUI
  imports it as a package the way a user's ``custom_nodes/nested-diffusion`` clone is imported;
* the test-only pack in ``testing_nodes/`` (tiny model and conditioning nodes).

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import aiohttp

SUPPORT_DIR = Path(__file__).resolve().parent  # tests/host/server/support
REPO_ROOT = SUPPORT_DIR.parents[3]
TESTING_NODES_DIR = SUPPORT_DIR / "testing_nodes"
PACK_LINK_NAME = "nested-diffusion"
PACK_NODES = ("NestedKSampler", "NestedKSamplerAdvanced", "SamplerNestedDiffusion")
TEST_NODES = ("NestedTestTinyModel", "NestedTestConditioning")

READY_TIMEOUT_S = 120.0
PROMPT_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0

# The pack's websocket event, restated here (not imported from the pack): the tests check the
# released name.
EVENT = "nested_diffusion.outer_step"

# Binary websocket event types (ComfyUI protocol.py).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4

# urllib honours *_proxy environment variables; these requests must never leave the machine.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Preview:
    event: int                 # PREVIEW_IMAGE or PREVIEW_IMAGE_WITH_METADATA
    node: str | None           # only known with metadata (type 4)
    prompt_id: str | None
    image: bytes


@dataclass
class PromptRun:
    """What one submitted prompt produced: HTTP answer, websocket traffic and history."""
    http_status: int
    response: dict
    prompt_id: str | None = None
    messages: list[dict] = field(default_factory=list)
    previews: list[Preview] = field(default_factory=list)
    history: dict = field(default_factory=dict)
    observer_messages: list[dict] = field(default_factory=list)
    observer_binary_frames: int = 0

    def of_type(self, kind: str) -> list[dict]:
        return [m["data"] for m in self.messages if m.get("type") == kind]

    def outer_steps(self, node: str) -> list[dict]:
        return [d for d in self.of_type(EVENT) if d.get("node") == node]

    def previews_for(self, node: str) -> list[Preview]:
        return [p for p in self.previews if p.node == node]

    def progress_for(self, node: str) -> list[tuple[int, int]]:
        return [(d["value"], d["max"]) for d in self.of_type("progress")
                if d.get("node") == node and d.get("prompt_id") == self.prompt_id]

    @property
    def status(self) -> str | None:
        return self.history.get("status", {}).get("status_str")

    def error_text(self) -> str:
        """All execution_error messages as one string, for asserting what they name."""
        return "\n".join(f"{e.get('exception_type')}: {e.get('exception_message')}"
                         for e in self.of_type("execution_error"))

    def describe(self) -> str:
        kinds = [m.get("type") for m in self.messages]
        return (f"http {self.http_status}, status {self.status}, messages {kinds}, "
                f"errors {self.error_text()!r}, response {self.response}")


def _parse_binary(data: bytes) -> Preview | None:
    (event,) = struct.unpack(">I", data[:4])
    if event == PREVIEW_IMAGE:
        return Preview(event, None, None, data[8:])
    if event == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack(">I", data[4:8])
        meta = json.loads(data[8:8 + length].decode("utf-8"))
        return Preview(event, meta.get("node_id"), meta.get("prompt_id"), data[8 + length:])
    return None


class ComfyServer:
    """One ``main.py`` process on a free port, its log file and its output directory."""

    def __init__(self, comfy_root: Path, workdir: Path, preview_method: str,
                 model_folders: dict[str, Path] | None = None, cache_none: bool = True,
                 extra_args: tuple[str, ...] = (), custom_nodes: tuple[Path, ...] = (),
                 python_path: tuple[Path, ...] = ()):
        self.cache_none = cache_none      # False: ComfyUI's default cache
        self.model_folders = dict(model_folders or {})  # e.g. {"vae_approx": folder}
        self.extra_args = tuple(extra_args)  # e.g. ("--user-directory", dir) for a browser session
        self.custom_nodes = tuple(custom_nodes)  # more custom_nodes folders (e.g. one holding another pack)
        self.python_path = tuple(python_path)    # that pack's requirements, where ComfyUI's Python lacks them
        self.comfy_root = Path(comfy_root)
        self.workdir = Path(workdir)
        self.preview_method = preview_method
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output_dir = self.workdir / "out"
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self._ready = False

    # ---- process -------------------------------------------------------------------------
    def _write_config(self) -> Path:
        link_dir = self.workdir / "pack_link"
        link_dir.mkdir(parents=True, exist_ok=True)
        link = link_dir / PACK_LINK_NAME
        if not link.exists():
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        for sub in ("out", "tmp"):
            (self.workdir / sub).mkdir(exist_ok=True)
        yaml_path = self.workdir / "extra.yaml"
        # utils/extra_config.py splits each value on newlines: one custom_nodes folder per line.
        yaml_path.write_text("nested_diffusion_server_tests:\n"
                             "  custom_nodes: |\n"
                             f"    {link_dir}\n"
                             f"    {TESTING_NODES_DIR}\n"
                             + "".join(f"    {folder}\n" for folder in self.custom_nodes)
                             + "".join(f"  {kind}: {folder}\n" for kind, folder in self.model_folders.items()))
        return yaml_path

    def start(self) -> "ComfyServer":
        """Launch (once: a second process on the same port would exit with code 1 and leave the
        first one running unowned) and wait until it serves."""
        return (self if self.proc is not None else self.launch()).wait_ready()

    def launch(self) -> "ComfyServer":
        """Start the process without waiting (servers of a session import in parallel)."""
        yaml_path = self._write_config()
        cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-api-nodes", "--preview-method", self.preview_method,
               "--database-url", "sqlite:///:memory:",
               "--output-directory", str(self.output_dir),
               "--temp-directory", str(self.workdir / "tmp"),
               "--extra-model-paths-config", str(yaml_path),
               *(["--cache-none"] if self.cache_none else []), *self.extra_args]
        env = dict(os.environ)
        env["PYTHONDONTWRITEBYTECODE"] = "1"   # keep __pycache__ out of the repository tree
        env.pop("PYTHONPATH", None)            # the server's sys.path is ComfyUI's, never tests/ or the repo
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in self.python_path)
        # The tiny model is fastest on one thread; with more, OpenMP workers spin against the
        # other server and any parallel jobs, and a 0.06 s model call took seconds.
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.comfy_root, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        return self

    def wait_ready(self) -> "ComfyServer":
        if self._ready:
            return self
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} during startup:\n"
                                   f"{self.log_tail()}")
            try:
                self.get_json("/object_info/EmptyLatentImage", timeout=2)
                self._ready = True
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"ComfyUI was not ready after {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def require_pack_nodes(self) -> "ComfyServer":
        """This server, after checking that it lists every node of the pack (a failed import
        shows up here, with the log tail)."""
        missing = [name for name in PACK_NODES if name not in self.object_info()]
        assert not missing, (f"the pack's nodes {missing} are not in /object_info; server log tail:\n"
                             f"{self.log_tail()}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # ---- HTTP ----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with _LOCAL.open(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode("utf-8", "replace")

    def get_bytes(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        try:
            with _LOCAL.open(urllib.request.Request(self.base + path), timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    @property
    def temp_dir(self) -> Path:
        return self.workdir / "tmp" / "temp"  # main.py puts "temp" under --temp-directory

    def get_json(self, path: str, timeout: float = 30) -> Any:
        req = urllib.request.Request(self.base + path)
        with _LOCAL.open(req, timeout=timeout) as r:
            return json.loads(r.read())

    def object_info(self) -> dict:
        return self.get_json("/object_info")

    def interrupt(self) -> None:
        self.request("POST", "/interrupt", {})

    def saved_latent_path(self, run: PromptRun, node: str) -> Path:
        """The .latent file a SaveLatent node wrote, from the prompt's history outputs."""
        item = run.history["outputs"][node]["latents"][0]
        return self.output_dir / item["subfolder"] / item["filename"]

    # ---- websocket -----------------------------------------------------------------------
    def run_prompt(self, prompt: dict, *, preview_metadata: bool = True, observer: bool = False,
                   on_message: Callable[["ComfyServer", dict], None] | None = None,
                   timeout: float = PROMPT_TIMEOUT_S, extra_data: dict | None = None,
                   client_id: str | None = None) -> PromptRun:
        """Submit ``prompt`` from a fresh client (or from ``client_id``: the same tab again) and
        collect everything until it finishes.

        ``preview_metadata`` negotiates binary previews with node ids (type 4). ``observer``
        connects a second client that submits nothing, to check what leaks to other clients.
        ``on_message`` sees each JSON message as it arrives (e.g. to POST /interrupt).
        ``extra_data`` is sent with the prompt (e.g. ``{"preview_method": "none"}``).
        """
        return asyncio.run(self._run_prompt(prompt, preview_metadata, observer, on_message, timeout, extra_data,
                                            client_id or uuid.uuid4().hex))

    async def _run_prompt(self, prompt, preview_metadata, observer, on_message, timeout, extra_data,
                          client_id: str) -> PromptRun:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            watcher = await session.ws_connect(f"ws://127.0.0.1:{self.port}/ws?clientId={uuid.uuid4().hex}",
                                               max_msg_size=0) if observer else None
            async with session.ws_connect(f"ws://127.0.0.1:{self.port}/ws?clientId={client_id}",
                                          max_msg_size=0) as ws:
                await self._handshake(ws, preview_metadata, deadline)
                body = {"prompt": prompt, "client_id": client_id}
                if extra_data is not None:
                    body["extra_data"] = dict(extra_data)
                async with session.post(f"{self.base}/prompt", json=body) as r:
                    run = PromptRun(r.status, await r.json())
                if r.status != 200:
                    return run
                run.prompt_id = run.response["prompt_id"]
                await self._collect(ws, run, on_message, deadline)
            if watcher is not None:
                await self._drain_observer(watcher, run)
        run.history = self.get_json(f"/history/{run.prompt_id}").get(run.prompt_id, {})
        return run

    @staticmethod
    async def _receive(ws, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no end-of-prompt message before the deadline")
        return await asyncio.wait_for(ws.receive(), remaining)

    async def _handshake(self, ws, preview_metadata: bool, deadline: float) -> None:
        # The flags must be the first message; wait for the server's reply so that they are
        # stored before the prompt runs. Without them, wait for the initial status message.
        if preview_metadata:
            await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        wanted = "feature_flags" if preview_metadata else "status"
        while True:
            msg = await self._receive(ws, deadline)
            if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data).get("type") == wanted:
                return
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise ConnectionError(f"websocket closed during handshake: {msg}")

    async def _collect(self, ws, run: PromptRun, on_message, deadline: float) -> None:
        while True:
            msg = await self._receive(ws, deadline)
            if msg.type == aiohttp.WSMsgType.BINARY:
                preview = _parse_binary(msg.data)
                if preview is not None:
                    run.previews.append(preview)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                run.messages.append(data)
                if on_message is not None:
                    on_message(self, data)
                body = data.get("data") or {}
                if (data.get("type") == "executing" and body.get("node") is None
                        and body.get("prompt_id") == run.prompt_id):
                    return
            else:
                raise ConnectionError(f"websocket ended before the prompt finished: {msg}\n{self.log_tail()}")

    @staticmethod
    async def _drain_observer(ws, run: PromptRun) -> None:
        # The server sends from one queue in order, so anything meant for the observer was
        # written before the submitting client saw the end of its prompt; drain it briefly.
        while True:
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except asyncio.TimeoutError:
                break
            if msg.type == aiohttp.WSMsgType.TEXT:
                run.observer_messages.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                run.observer_binary_frames += 1
            else:
                break
        await ws.close()
