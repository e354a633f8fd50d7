"""The demo digits model as ComfyUI objects: MODEL, CLIP and VAE, like Load Checkpoint gives.

MODEL is a ``ModelPatcher`` around ``comfy.model_base.BaseModel`` with ComfyUI's own
``openaimodel.UNetModel`` (a tiny config read from the weights file's metadata), trained for
v-prediction on ComfyUI's default discrete schedule (1000 steps, scaled-linear betas
0.00085..0.012). Its latent is the 8x8 digit itself (``digit_space``), so Empty Latent Image
at 64x64 gives the right 1x8x8 latent (ComfyUI adapts the empty latent's channels).
"""

from __future__ import annotations

from pathlib import Path

import torch

import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models_base

from ..shared.digits_clip import build_clip
from ..shared.prompt_digits import token_for
from ..shared.weights_file import DemoWeightsError, read_weights
from .digit_space import LATENT_SIZE
from .digits_vae import build_vae

UNET_PATH = Path(__file__).resolve().parent / "unet.safetensors"
UNET_PREFIX = "diffusion_model."
TOKENS_KEY = "text_encoder.digit_tokens"
MODEL_TYPES = {"eps": comfy.model_base.ModelType.EPS, "v_prediction": comfy.model_base.ModelType.V_PREDICTION}

# The smallest UNetModel that draws good digits within the benches' budget: every level of
# ComfyUI's UNet needs >= 32 channels (GroupNorm(32)), so it runs at the data's own 8x8 and
# cross-attends to the digit tokens in its middle block.
UNET_CONFIG = {
    "image_size": LATENT_SIZE, "in_channels": 1, "out_channels": 1, "model_channels": 32,
    "num_res_blocks": [0], "channel_mult": [1], "transformer_depth": [0], "transformer_depth_output": [0],
    "transformer_depth_middle": 1, "context_dim": 32, "use_linear_in_transformer": True,
    "use_spatial_transformer": True, "legacy": False, "use_checkpoint": False, "adm_in_channels": None,
    "use_temporal_resblock": False, "use_temporal_attention": False,
    "num_heads": -1, "num_head_channels": 32,
}
DEFAULT_CONFIG = {"unet": UNET_CONFIG, "tokens": 4, "model_type": "v_prediction"}


class DigitsLatentFormat(comfy.latent_formats.LatentFormat):
    """One channel: the digit's grey level in [-1, 1]; latent2rgb shows it as grey."""
    latent_channels = 1
    scale_factor = 1.0
    latent_rgb_factors = [[1.0, 1.0, 1.0]]
    latent_rgb_factors_bias = None
    taesd_decoder_name = None


class DigitsModelConfig(comfy.supported_models_base.BASE):
    unet_config = {}
    unet_extra_config = {}
    latent_format = DigitsLatentFormat
    supported_inference_dtypes = [torch.float32]


def build_base_model(config: dict = DEFAULT_CONFIG) -> comfy.model_base.BaseModel:
    """An untrained BaseModel of the demo's shape (weights uninitialised, as ComfyUI leaves them)."""
    model_config = DigitsModelConfig(dict(config["unet"]))
    model_config.set_inference_dtype(torch.float32, None)
    return comfy.model_base.BaseModel(model_config, model_type=MODEL_TYPES[config["model_type"]], device="cpu")


def patcher_for(model: comfy.model_base.BaseModel) -> comfy.model_patcher.ModelPatcher:
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def load_demo(unet_path: str | Path | None = None):
    """(MODEL, CLIP, VAE) of the demo, from ``unet.safetensors`` (or ``unet_path``)."""
    path = Path(UNET_PATH if unet_path is None else unet_path)
    state, config = read_weights(path, "unet")
    try:
        model = build_base_model(config)
        unet = {k[len(UNET_PREFIX):]: v for k, v in state.items() if k.startswith(UNET_PREFIX)}
        model.diffusion_model.load_state_dict(unet, strict=True)
        clip = build_clip(state[TOKENS_KEY])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise DemoWeightsError(f"demo unet weights file {path} does not match the demo model "
                               f"({type(exc).__name__}: {exc})") from exc
    return patcher_for(model), clip, build_vae()


def digit_conditioning(clip, digit: int | None) -> list:
    """CONDITIONING for ``digit`` (0-9), or the unconditional one for None: what CLIP Text Encode
    gives for "7" or for an empty text."""
    token = token_for(digit)
    text = "" if digit is None else str(token)
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))
