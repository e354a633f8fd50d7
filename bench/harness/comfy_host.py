"""The one way bench/ starts ComfyUI in-process, and bench's one entry to the test helpers.

ComfyUI is the real checkout named by COMFYUI_PATH, imported the way the host tests import it
(``tests/helpers/host_env.py``), and the pack is loaded into it the way ComfyUI loads a custom
node pack (as a package under a name that is not ``nodes``). Nothing here is faked: ComfyUI's
own modules come from the checkout, and the demo models from the pack's ``nodes/demos``.

* ``start()``: ComfyUI and the pack, for every bench that runs ComfyUI in-process;
  ``open_demo()``: ``start()`` plus the demo digits model's modules and the digit classifier.
* ``pack_module()``: a module of the loaded pack, e.g. ``pack_module("nodes.runtime.comfy_schedules")``.
* ``use_test_helpers()``: the helper modules bench shares with the tests (``tests/helpers``:
  host_env, tiny_models, ksamplers, gmm, sigma_tables, ui_workflow ...; with ``server=True`` also
  the host tests' server harness), imported by plain name afterwards. No bench script puts a
  tests/ folder on sys.path itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

PACK_ROOT = Path(__file__).resolve().parents[2]
TEST_HELPERS = PACK_ROOT / "tests" / "helpers"   # host_env.py, tiny_models.py, gmm.py, ksamplers.py ...
# comfy_server.py, server_prompts.py: ComfyUI's main.py as a server
TEST_SERVER = PACK_ROOT / "tests" / "host" / "server" / "support"
DEMO_MODULES = {"demo_model": "digits", "digit_space": "digits", "weights_file": "shared", "prompt_digits": "shared"}


def use_test_helpers(*, server: bool = False, core: bool = False) -> None:
    """Put ``tests/helpers`` (and, when asked, the server harness ``tests/host/server/support``) on sys.path;
    ``core`` also puts the pack's folder there, so that its torch-only ``nested_core`` imports by plain
    name without ComfyUI, as in the core tests."""
    folders = ([TEST_HELPERS] + ([TEST_SERVER] if server else [])
               + ([PACK_ROOT] if core else []))
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def host_env():
    """``tests/helpers/host_env.py``: where ComfyUI is, its version, the pack's module name."""
    use_test_helpers()
    import host_env  # tests/helpers

    return host_env


def require_comfy(script: str) -> None:
    """Exit with one clear line when COMFYUI_PATH is not set; ``script`` is the path under bench/."""
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit(f"{script} needs a real ComfyUI: set COMFYUI_PATH to a ComfyUI checkout and run it with that "
                 f"ComfyUI's Python, e.g.\n  cd {PACK_ROOT} && COMFYUI_PATH=/path/to/ComfyUI "
                 f"/path/to/comfy/venv/bin/python bench/{script}")


def _import_server_module() -> str:
    """main.py imports the utils package and then server before nodes.py puts comfy/ at the front of
    sys.path (after which ``utils`` is comfy/utils.py and ``import server`` can no longer succeed)."""
    try:
        importlib.import_module("utils.install_util")  # order matters: utils before server
        importlib.import_module("server")
        return "imported first, as main.py does (no PromptServer instance)"
    except Exception as exc:
        return f"import failed ({type(exc).__name__}: {exc})"


def start(threads: int = 1, *, device: str = "cpu", server_module: bool = False,
          pack_root: Path | None = None) -> SimpleNamespace:
    """Import ComfyUI (COMFYUI_PATH) and load the pack into it; returns ``torch``, ``pack`` and
    ``server_note``.

    ``device="cpu"`` sets ComfyUI's ``--cpu`` before ``comfy.model_management`` is first imported
    (as the host tests do); any other device leaves ComfyUI's own choice. ``server_module`` imports
    ComfyUI's ``server`` module first, as main.py does, so the pack's lookup of
    ``sys.modules['server']`` finds ComfyUI's real module there, as it would inside ComfyUI.
    ``pack_root`` loads another copy of the pack instead of this one."""
    env = host_env()
    if device == "cpu":
        env.import_comfy()
    else:
        root = str(Path(env.COMFYUI_PATH).resolve())
        if root not in sys.path:
            sys.path.insert(0, root)
    server_note = _import_server_module() if server_module else "not imported"
    import torch

    torch.set_num_threads(threads)
    pack = env.load_pack(pack_root)
    return SimpleNamespace(torch=torch, pack=pack, server_note=server_note)


def pack_module(name: str):
    """A module of the loaded pack, e.g. ``pack_module("nodes.runtime.ksampler_function")``."""
    return importlib.import_module(f"{host_env().PACK_MODULE}.{name}")


class Demo(SimpleNamespace):
    """The started ComfyUI with the pack's demo digits model: ``torch``, ``pack``, the demo's modules
    (``demo_model``, ``digit_space`` from ``nodes/demos/digits``; ``weights_file``, ``prompt_digits``
    from ``nodes/demos/shared``), the judge ``classifier`` (``harness/digit_classifier.py``; not
    shipped), and the shortcuts the quality benches use."""

    def load_demo(self, unet=None):
        """(MODEL, CLIP, VAE) of the demo; ``unet`` another UNet weights file."""
        return self.demo_model.load_demo(unet)

    def digit_conditioning(self, clip, digit):
        """(clip, digit or None) -> CONDITIONING."""
        return self.demo_model.digit_conditioning(clip, digit)

    def pixels_from_latent(self, samples):
        """LATENT samples -> the classifier's pixels."""
        return self.digit_space.pixels_from_latent(samples)

    @property
    def latent_hw(self) -> tuple[int, int]:
        return (self.digit_space.LATENT_SIZE, self.digit_space.LATENT_SIZE)


def open_demo(script: str, threads: int = 1) -> Demo:
    """``start()`` on CPU with ``threads`` torch threads (exits first when COMFYUI_PATH is not set;
    ``script`` is the path under bench/), and the demo digits model's modules."""
    require_comfy(script)
    host = start(threads)
    modules = {name: importlib.import_module(f"{host.pack.__name__}.nodes.demos.{room}.{name}")
               for name, room in DEMO_MODULES.items()}
    from . import digit_classifier  # the judge is not shipped

    return Demo(torch=host.torch, pack=host.pack, classifier=digit_classifier, **modules)


def command_line(script: str) -> str:
    """The command that reproduces this run, for the printed report; ``script`` is the path under bench/."""
    args = " ".join(shlex.quote(a) for a in [f"bench/{script}"] + sys.argv[1:])
    return (f"cd {PACK_ROOT} && COMFYUI_PATH={shlex.quote(os.environ.get('COMFYUI_PATH', ''))} "
            f"{shlex.quote(sys.executable)} {args}")


def empty_video_latent_node():
    """The core Empty HunyuanVideo Latent as a V1-style node class, the way ``ui_workflow.run_graph``
    (tests/helpers) calls nodes on every host. Call after ``start()``."""
    from comfy_extras import nodes_hunyuan

    use_test_helpers()
    from ui_workflow import v1_node  # tests/helpers

    return v1_node(nodes_hunyuan.EmptyHunyuanLatentVideo)
