"""Reading and writing the demo's .safetensors files, each with its config in the metadata.

A file that is missing, truncated or not a safetensors file raises ``DemoWeightsError`` naming
the file, so ComfyUI shows which file to replace instead of a bare parser message.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FORMAT = "nested-diffusion-demo-digits/1"


class DemoWeightsError(ValueError):
    pass


def read_weights(path: str | Path, kind: str,
                 hint: str = "reinstall the pack, or rebuild it with bench/training/train_demo_model.py",
                 ) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, config) of a demo weights file of the given kind ("unet", "classifier", "video")."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DemoWeightsError(f"demo {kind} weights file not found: {path} ({hint})")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError, or OSError
        raise DemoWeightsError(f"demo {kind} weights file {path} is corrupt or truncated "
                               f"({type(exc).__name__}: {exc}); {hint}") from exc
    if metadata.get("format") != FORMAT or metadata.get("kind") != kind:
        raise DemoWeightsError(f"{path} is not a demo {kind} weights file (its metadata says format "
                               f"{metadata.get('format')!r}, kind {metadata.get('kind')!r}); {hint}")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise DemoWeightsError(f"demo {kind} weights file {path} has no readable config in its metadata; "
                               f"{hint}") from exc
    return state, config


def write_weights(path: str | Path, kind: str, state: dict[str, torch.Tensor], config: dict, **notes: str) -> None:
    from safetensors.torch import save_file

    metadata = {"format": FORMAT, "kind": kind, "config": json.dumps(config, sort_keys=True)}
    metadata.update({k: str(v) for k, v in notes.items()})
    save_file({k: v.detach().float().contiguous() for k, v in state.items()}, str(path), metadata=metadata)
