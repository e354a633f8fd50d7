"""API-format prompt pieces for the server-level tests, and readers for what they save.

Input names follow ComfyUI 0.3.64 (nodes.py, comfy_extras/nodes_custom_sampler.py) and the
pack's released node inputs. A link is ``[source_node_id, output_index]``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import torch
from safetensors.torch import load_file

# Base graph ids shared by the tests: tiny model, positive, negative, empty latent.
MODEL, POSITIVE, NEGATIVE, LATENT = "1", "2", "3", "4"


def node(class_type: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def base_graph(kind: str = "eps", size: int = 128, batch: int = 1, positive_seed: int = 1) -> dict:
    """Tiny model of ``kind``, a random positive, a zero negative and an empty latent
    (``size`` pixels square: 128 -> a 16x16 latent)."""
    return {
        MODEL: node("NestedTestTinyModel", kind=kind, seed=0),
        POSITIVE: node("NestedTestConditioning", seed=positive_seed, zero=False),
        NEGATIVE: node("NestedTestConditioning", seed=0, zero=True),
        LATENT: node("EmptyLatentImage", width=size, height=size, batch_size=batch),
    }


def save_latent(source: str, output: int = 0) -> dict:
    # A unique prefix per save keeps files of different runs apart in the shared output dir.
    return node("SaveLatent", samples=[source, output], filename_prefix=f"nd_tests/{uuid.uuid4().hex[:12]}")


def nested_ksampler_node(*, seed: int = 42, outer_steps: int = 3, inner_steps: int = 2, cfg: float = 3.0,
                    sampler_name: str = "euler", scheduler: str = "normal", positive: str = POSITIVE,
                    latent: list | None = None, denoise: float = 1.0) -> dict:
    return node("NestedKSampler", model=[MODEL, 0], seed=seed, outer_steps=outer_steps,
                inner_steps=inner_steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
                positive=[positive, 0], negative=[NEGATIVE, 0], latent_image=latent or [LATENT, 0],
                denoise=denoise)


def nested_ksampler_advanced_node(*, add_noise: str = "enable", noise_seed: int = 42, outer_steps: int = 4,
                             inner_steps: int = 2, cfg: float = 3.0, sampler_name: str = "euler",
                             scheduler: str = "normal", positive: str = POSITIVE,
                             latent: list | None = None, start: int = 0, end: int = 10000,
                             leftover: str = "disable") -> dict:
    return node("NestedKSamplerAdvanced", model=[MODEL, 0], add_noise=add_noise, noise_seed=noise_seed,
                outer_steps=outer_steps, inner_steps=inner_steps, cfg=cfg, sampler_name=sampler_name,
                scheduler=scheduler, positive=[positive, 0], negative=[NEGATIVE, 0],
                latent_image=latent or [LATENT, 0], start_at_outer_step=start, end_at_outer_step=end,
                return_with_leftover_noise=leftover)


def sampler_nested_diffusion_node(*, inner_sampler: str = "euler", inner_steps: int = 2,
                                  inner_scheduler: str = "normal", eta: float = 0.0,
                                  override: list | None = None) -> dict:
    inputs = dict(inner_sampler=inner_sampler, inner_steps=inner_steps, inner_scheduler=inner_scheduler, eta=eta)
    if override is not None:
        inputs["inner_sampler_override"] = override
    return node("SamplerNestedDiffusion", **inputs)


def sampling_prompt(sampler_node: dict, *, size: int = 128, batch: int = 1, save_outer_images: bool = False,
                    kind: str = "eps") -> dict:
    """``base_graph`` with a NestedKSampler(Advanced) node as node "5", its LATENT saved by node
    "6" and, with ``save_outer_images``, its ``outer_step_images`` by node "7"."""
    prompt = base_graph(kind=kind, size=size, batch=batch)
    prompt["5"] = sampler_node
    prompt["6"] = save_latent("5", 0)
    if save_outer_images:
        prompt["7"] = save_latent("5", 1)
    return prompt


def load_latent(path: Path) -> torch.Tensor:
    """The tensor a SaveLatent node wrote (safetensors key ``latent_tensor``)."""
    return load_file(str(path))["latent_tensor"]
