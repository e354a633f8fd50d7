"""The one host test that is always collected: it names how to enable the others, and checks
that COMFYUI_PATH is a ComfyUI the pack supports (requires-comfyui in pyproject.toml)."""

import os

import pytest

from host_env import SKIP_REASON, host_version, supported_floor, version_tuple


def test_comfyui_checkout_is_a_supported_version():
    root = os.environ.get("COMFYUI_PATH")
    if not root:
        pytest.skip(SKIP_REASON)
    version, floor = host_version(root), supported_floor()
    assert len(version_tuple(version)) == 3, f"unreadable ComfyUI version {version!r} at {root}"
    assert version_tuple(version) >= version_tuple(floor), \
        f"COMFYUI_PATH is ComfyUI {version}; the pack supports {floor} or later (requires-comfyui)"


def test_version_order_is_numeric():
    # 0.33.0 is newer than 0.3.64; a string comparison would say otherwise.
    assert version_tuple("0.33.0") > version_tuple("0.3.64") > version_tuple("0.3.9")
    assert version_tuple("v1.2.3-rc1") == (1, 2, 3)
