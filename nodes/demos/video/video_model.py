"""The video demo model as ComfyUI objects: MODEL, CLIP and VAE, like Load Checkpoint gives.

MODEL is a ``ModelPatcher`` around ComfyUI's own ``comfy.model_base.WAN21`` (WAN 2.1's
``WanModel`` at a tiny config read from the weights file's metadata), a flow model sampled as
ComfyUI samples WAN: ``model_sampling`` CONST with ``ModelSamplingDiscreteFlow`` at the shift in
the metadata. Its latent is the clip itself (``clip_shape``): ``[B, 1, 8, 16, 16]``.
"""

from __future__ import annotations

from pathlib import Path

import torch

import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models_base

from ..shared.digits_clip import TOKEN_KEY, DigitTokenizer, build_clip
from ..shared.weights_file import DemoWeightsError, read_weights
from .clip_shape import CANVAS, FPS, FRAMES
from .clips_vae import DigitClipsVAE
from .prompt_clips import prompt_for, rows_for_text

WEIGHTS_PATH = Path(__file__).resolve().parent / "wan_digits.safetensors"
WEIGHTS_KIND = "video"
UNET_PREFIX = "diffusion_model."
TOKENS_KEY = "text_encoder.tokens"
REBUILD_HINT = "reinstall the pack, or rebuild it with bench/training/train_demo_video_model.py"

# WAN 2.1 at a tiny size: 4x4 patches make each 16x16 frame 4x4 tokens (128 per clip: 2x2 patches,
# 512 tokens, cost 9x the CPU time per training step, measured); 4 blocks of width 64 with 4
# heads (16 per head, which WAN's 3-axis rotary embedding splits as 8/4/4 for frame/row/column).
WAN_CONFIG = {
    "image_model": "wan2.1", "model_type": "t2v", "patch_size": [1, 4, 4], "text_len": 8,
    "in_dim": 1, "out_dim": 1, "dim": 64, "ffn_dim": 256, "freq_dim": 64, "text_dim": 32,
    "num_heads": 4, "num_layers": 4,
}
# Flow shift: ComfyUI's resolution rule for flow models (Flux/SD3: shift grows with the token
# count, log-linear from 0.5 at 256 tokens to 1.15 at 4096 in log-shift) gives about 1.6 for
# the clip's 128 tokens; WAN's own 8 is for 480p clips of ~32k tokens, where noise destroys far
# less of the picture per unit sigma. 2.0 keeps a few more steps at high noise, where the digit
# and its path are decided, and is what the shipped weights were trained for.
SHIFT = 2.0
DEFAULT_CONFIG = {"wan": WAN_CONFIG, "tokens": 4, "shift": SHIFT, "frames": FRAMES, "canvas": CANVAS}


class DigitClipsLatentFormat(comfy.latent_formats.LatentFormat):
    """One channel, three latent dimensions (frame, height, width): the clip's grey level in [-1, 1]."""
    latent_channels = 1
    latent_dimensions = 3
    scale_factor = 1.0
    latent_rgb_factors = [[1.0, 1.0, 1.0]]
    latent_rgb_factors_bias = None
    taesd_decoder_name = None
    nested_clip_fps = FPS   # frames per second the clips play at (no temporal compression: latent frame = frame)


def model_config(config: dict = DEFAULT_CONFIG):
    class DigitClipsModelConfig(comfy.supported_models_base.BASE):
        unet_config = {}
        unet_extra_config = {}
        latent_format = DigitClipsLatentFormat
        sampling_settings = {"shift": float(config["shift"])}
        supported_inference_dtypes = [torch.float32]

    wan = dict(config["wan"])
    wan["patch_size"] = tuple(wan["patch_size"])
    cfg = DigitClipsModelConfig(wan)
    cfg.set_inference_dtype(torch.float32, None)
    return cfg


def build_base_model(config: dict = DEFAULT_CONFIG) -> comfy.model_base.WAN21:
    """An untrained WAN21 of the demo's shape (weights uninitialised, as ComfyUI leaves them)."""
    return comfy.model_base.WAN21(model_config(config), device="cpu")


def patcher_for(model) -> comfy.model_patcher.ModelPatcher:
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


class ClipTokenizer(DigitTokenizer):
    """A prompt becomes its digit row and its direction row of the token table (``prompt_clips``)."""

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **kwargs) -> dict:
        rows = rows_for_text(text)
        return {TOKEN_KEY: [[(row, 1.0, 0) if return_word_ids else (row, 1.0) for row in rows]]}


def load_video_demo(weights_path: str | Path | None = None):
    """(MODEL, CLIP, VAE) of the video demo, from ``wan_digits.safetensors`` (or ``weights_path``).
    A missing, corrupt or foreign file raises ``DemoWeightsError`` naming it."""
    path = Path(WEIGHTS_PATH if weights_path is None else weights_path)
    state, config = read_weights(path, WEIGHTS_KIND, hint=REBUILD_HINT)
    try:
        model = build_base_model(config)
        wan = {k[len(UNET_PREFIX):]: v for k, v in state.items() if k.startswith(UNET_PREFIX)}
        model.diffusion_model.load_state_dict(wan, strict=True)
        clip = build_clip(state[TOKENS_KEY], tokenizer=ClipTokenizer)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise DemoWeightsError(f"video demo weights file {path} does not match the video demo model "
                               f"({type(exc).__name__}: {exc}); {REBUILD_HINT}") from exc
    return patcher_for(model), clip, DigitClipsVAE()


def clip_conditioning(clip, digit: int | None, direction: int | str | None = None) -> list:
    """CONDITIONING for ``digit`` (0-9; None: unconditional) moving ``direction`` (an index into
    ``DIRECTIONS``, its name, or None: any direction): what CLIP Text Encode gives for "7 moving left"."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(prompt_for(digit, direction)))
