"""Prompts for the robustness tests (load, faults, memory): the pack's three graph shapes and a
plain KSampler graph, each ending in SaveLatent nodes, with an optional model wrapper in front.

Every shape's saved outputs are listed in ``saves`` so a test can check each one was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server_prompts import (
    LATENT,
    MODEL,
    NEGATIVE,
    POSITIVE,
    base_graph,
    nested_ksampler_advanced_node,
    nested_ksampler_node,
    node,
    sampler_nested_diffusion_node,
    save_latent,
)

SHAPES = ("nested", "chain", "custom", "ksampler")
FAULTY_MODEL = "20"


@dataclass
class Graph:
    shape: str
    prompt: dict
    samplers: list[str]                      # node ids that send nested_diffusion.outer_step events
    saves: dict[str, tuple[int, ...]] = field(default_factory=dict)  # SaveLatent id -> expected shape
    outer_steps: int = 0                     # events expected per sampler node


def with_faulty_model(prompt: dict, fault: str, outer_step: int, inner_call: int) -> dict:
    """Route every MODEL input through NestedTestFaultyModel."""
    prompt[FAULTY_MODEL] = node("NestedTestFaultyModel", model=[MODEL, 0], fault=fault, outer_step=outer_step,
                                inner_call=inner_call)
    for node_id, body in prompt.items():
        if node_id != FAULTY_MODEL and body["inputs"].get("model") == [MODEL, 0]:
            body["inputs"]["model"] = [FAULTY_MODEL, 0]
    return prompt


def build(shape: str, seed: int = 42, outer_steps: int = 3, inner_steps: int = 2, size: int = 64,
          scheduler: str = "simple", sampler_name: str = "euler") -> Graph:
    """One graph of ``shape`` on the tiny eps model (``size`` px: 64 -> an 8x8 latent)."""
    prompt = base_graph(size=size)
    latent_shape = (1, 4, size // 8, size // 8)
    if shape == "nested":
        prompt["5"] = nested_ksampler_node(seed=seed, outer_steps=outer_steps, inner_steps=inner_steps,
                                      scheduler=scheduler, sampler_name=sampler_name)
        prompt["6"] = save_latent("5", 0)
        prompt["7"] = save_latent("5", 1)
        return Graph(shape, prompt, ["5"], {"6": latent_shape, "7": (outer_steps,) + latent_shape[1:]},
                     outer_steps)
    if shape == "chain":
        half = max(outer_steps // 2, 1)
        total = 2 * half
        prompt["9"] = node("NestedTestConditioning", seed=seed % 1000 + 2, zero=False)
        prompt["10"] = nested_ksampler_advanced_node(noise_seed=seed, outer_steps=total, inner_steps=inner_steps,
                                                end=half, leftover="enable", scheduler=scheduler,
                                                sampler_name=sampler_name)
        prompt["11"] = nested_ksampler_advanced_node(add_noise="disable", noise_seed=seed, outer_steps=total,
                                                inner_steps=inner_steps, start=half, positive="9",
                                                latent=["10", 0], scheduler=scheduler, sampler_name=sampler_name)
        prompt["12"] = save_latent("11", 0)
        prompt["13"] = save_latent("11", 1)
        return Graph(shape, prompt, ["10", "11"], {"12": latent_shape, "13": (half,) + latent_shape[1:]}, half)
    if shape == "custom":
        prompt["5"] = node("RandomNoise", noise_seed=seed)
        prompt["6"] = node("CFGGuider", model=[MODEL, 0], positive=[POSITIVE, 0], negative=[NEGATIVE, 0], cfg=3.0)
        prompt["7"] = sampler_nested_diffusion_node(inner_sampler=sampler_name, inner_steps=inner_steps,
                                                     inner_scheduler=scheduler)
        prompt["8"] = node("BasicScheduler", model=[MODEL, 0], scheduler=scheduler, steps=outer_steps, denoise=1.0)
        prompt["9"] = node("SamplerCustomAdvanced", noise=["5", 0], guider=["6", 0], sampler=["7", 0],
                           sigmas=["8", 0], latent_image=[LATENT, 0])
        prompt["10"] = save_latent("9", 0)
        return Graph(shape, prompt, ["9"], {"10": latent_shape}, outer_steps)
    if shape == "ksampler":
        prompt["5"] = node("KSampler", model=[MODEL, 0], seed=seed, steps=outer_steps * inner_steps, cfg=3.0,
                           sampler_name=sampler_name, scheduler=scheduler, positive=[POSITIVE, 0],
                           negative=[NEGATIVE, 0], latent_image=[LATENT, 0], denoise=1.0)
        prompt["6"] = save_latent("5", 0)
        return Graph(shape, prompt, [], {"6": latent_shape}, 0)
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
