"""The one host test that is always collected: it names how to enable the others."""

import os
from pathlib import Path

import pytest

from host_env import SKIP_REASON

PINNED = "0.3.64"


def test_comfyui_checkout_is_the_pinned_version():
    root = os.environ.get("COMFYUI_PATH")
    if not root:
        pytest.skip(SKIP_REASON)
    text = (Path(root) / "comfyui_version.py").read_text()
    assert f'"{PINNED}"' in text, f"COMFYUI_PATH points at a ComfyUI other than {PINNED}: {text.strip()}"
