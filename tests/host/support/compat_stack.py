"""The compatibility matrix's machinery: ComfyUI's own node classes called as its executor calls
them, a "stack" (model, conditioning, latent, guider and noise after the nodes under test), and
the four ways to sample it: NestedKSampler, KSampler, and SamplerCustomAdvanced with the nested
SAMPLER or with KSamplerSelect's.

Each matrix row checks two things on each path, both able to fail:
* it runs: finite output, one preview per outer step, and a result that differs from the same
  stack without the node (so the node really reaches the nested run's model calls);
* its meaning is kept: with one inner ``euler`` step a nested run is DDIM on the outer schedule,
  which is ComfyUI's ``euler`` step, so it must give what ComfyUI's ``euler`` gives on the same
  schedule and stack, within ``IDENTITY_RTOL`` (max |a - b| / max |b|). A node that fails it
  depends on where in the schedule a call is, not only on the noise level; its row says why.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib
import inspect
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

import comfy.utils
import folder_paths
import nodes
from comfy.cli_args import LatentPreviewMethod

from host_fixtures import NODES, captured_previews, outer_step_previews, preview_method

OUTER, INNER, SEED, CFG = 3, 2, 5, 2.0
SCHEDULER = "normal"
# The same model calls in float32, summed in a different order: the largest deviation measured on
# either host is 1.6e-6 (ModelSamplingDiscrete on the EPS model; docs/compatibility-matrix.md).
IDENTITY_RTOL = 1e-5
# Every node in the matrix changes the tiny models' nested result by 1.4e-3 or more (measured; the
# smallest is the T2I adapter, then ConditioningSetTimestepRange at 7e-3), far above float noise.
EFFECT_MIN = 1e-4
PATHS = ("NestedKSampler", "SamplerCustomAdvanced")

# The comfy_extras modules that hold the matrix's nodes (V1 mappings or V3 entry points).
EXTRA_MODULES = (
    "nodes_apg", "nodes_cfg", "nodes_custom_sampler", "nodes_differential_diffusion", "nodes_easycache",
    "nodes_flux", "nodes_freelunch", "nodes_hooks", "nodes_mahiro", "nodes_model_advanced", "nodes_pag",
    "nodes_perpneg", "nodes_sag", "nodes_sd3", "nodes_slg",
)


def _resolved(value):
    return asyncio.run(value) if inspect.isawaitable(value) else value


@functools.cache
def core_nodes() -> dict[str, type]:
    """ComfyUI's node classes by id: nodes.py's and the matrix's comfy_extras modules', loaded the
    way ComfyUI loads a module (NODE_CLASS_MAPPINGS, else its comfy_entrypoint extension)."""
    classes = dict(nodes.NODE_CLASS_MAPPINGS)
    for name in EXTRA_MODULES:
        module = importlib.import_module(f"comfy_extras.{name}")
        if hasattr(module, "NODE_CLASS_MAPPINGS"):
            classes.update(module.NODE_CLASS_MAPPINGS)
            continue
        extension = _resolved(module.comfy_entrypoint())
        for cls in _resolved(extension.get_node_list()):
            classes[cls.GET_SCHEMA().node_id] = cls
    return classes


def call_node(name: str, **inputs) -> tuple:
    """A core node's outputs, called like the executor does: V1 on an instance by FUNCTION,
    V3 on the class (its normalised execute), under inference mode."""
    cls = core_nodes()[name]
    target = cls if hasattr(cls, "GET_SCHEMA") else cls()
    with torch.inference_mode():
        result = getattr(target, cls.FUNCTION)(**inputs)
    if hasattr(result, "args"):  # a V3 NodeOutput
        return tuple(result.args)
    return tuple(result["result"]) if isinstance(result, dict) else tuple(result)


@dataclass
class Stack:
    """What reaches the sampler after the nodes under test."""
    model: object
    positive: list
    negative: list
    latent: dict
    cfg: float = CFG
    guider: Callable[[], object] | None = None  # SamplerCustomAdvanced only; default CFGGuider
    noise: Callable[[int], object] | None = None  # SamplerCustomAdvanced only; default RandomNoise


@dataclass(frozen=True)
class Case:
    """One matrix row on one model family. ``build(apply)`` gives the stack with the node
    (True) or the same stack without it (False)."""
    node: str
    family: str
    build: Callable[[bool], Stack]
    paths: tuple = PATHS
    # Why nested(1 inner euler step) != euler for this row (it reads the schedule position, not the
    # noise level): makes its identity check a strict xfail. No row measured so far needs it.
    position: str | None = None
    effect: bool = True
    # Inner steps of the "it runs" check. Caches start a fresh state at every inner run (schedule-position
    # semantics), so their rows need inner runs long enough to reuse a call within one run.
    effect_inner: int = INNER
    notes: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.node}-{self.family}"


@dataclass
class Run:
    samples: torch.Tensor
    previews: int | None = None


def _nested_sampler(inner: int):
    return NODES["SamplerNestedDiffusion"]().get_sampler("euler", inner, SCHEDULER, 0.0)[0]


def _custom_advanced(stack: Stack, sampler, seed: int) -> torch.Tensor:
    guider = stack.guider() if stack.guider else call_node(
        "CFGGuider", model=stack.model, positive=stack.positive, negative=stack.negative, cfg=stack.cfg)[0]
    noise = stack.noise(seed) if stack.noise else call_node("RandomNoise", noise_seed=seed)[0]
    sigmas = call_node("BasicScheduler", model=stack.model, scheduler=SCHEDULER, steps=OUTER, denoise=1.0)[0]
    out, _ = call_node("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=sampler, sigmas=sigmas,
                       latent_image=stack.latent)
    return out["samples"]


def nested(stack: Stack, path: str, inner: int, seed: int = SEED) -> Run:
    """The pack's nested run on ``path`` with inner sampler euler, counting the outer-step previews."""
    with preview_method(LatentPreviewMethod.Latent2RGB), captured_previews() as calls, torch.inference_mode():
        if path == "NestedKSampler":
            out, _ = NODES["NestedKSampler"]().sample(
                model=stack.model, seed=seed, outer_steps=OUTER, inner_steps=inner, cfg=stack.cfg,
                sampler_name="euler", scheduler=SCHEDULER, positive=stack.positive, negative=stack.negative,
                latent_image=stack.latent, denoise=1.0)
            samples = out["samples"]
        else:
            samples = _custom_advanced(stack, _nested_sampler(inner), seed)
    return Run(samples, len(outer_step_previews(calls)))


def comfy_euler(stack: Stack, path: str, seed: int = SEED) -> Run:
    """ComfyUI's own euler on the same schedule and stack: KSampler, or SamplerCustomAdvanced
    with KSamplerSelect."""
    if path == "NestedKSampler":
        out = call_node("KSampler", model=stack.model, seed=seed, steps=OUTER, cfg=stack.cfg, sampler_name="euler",
                        scheduler=SCHEDULER, positive=stack.positive, negative=stack.negative,
                        latent_image=stack.latent, denoise=1.0)[0]
        return Run(out["samples"])
    return Run(_custom_advanced(stack, call_node("KSamplerSelect", sampler_name="euler")[0], seed))


def rel_dev(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12))


def check_runs(case: Case, path: str) -> None:
    """It runs: finite, one preview per outer step, and the node changes the result."""
    run = nested(case.build(True), path, case.effect_inner)
    assert bool(torch.isfinite(run.samples).all()), f"{case}: non-finite output on {path}"
    assert run.previews == OUTER, f"{case}: {run.previews} previews for {OUTER} outer steps on {path}"
    if case.effect:
        without = nested(case.build(False), path, case.effect_inner).samples
        change = rel_dev(run.samples, without)
        print(f"\ncompat-effect {case} {path}: {change:.3e}")
        assert change > EFFECT_MIN, f"{case}: the node changed the nested result by only {change:.2e} on {path}"


def check_identity(case: Case, path: str) -> float:
    """Meaning kept: nested with one inner euler step equals ComfyUI's euler on the same stack."""
    stack = case.build(True)
    dev = rel_dev(nested(stack, path, 1).samples, comfy_euler(case.build(True), path).samples)
    print(f"\ncompat-identity {case} {path}: max rel dev {dev:.3e}")
    assert dev <= IDENTITY_RTOL, f"{case} on {path}: nested(1 inner euler step) differs from euler by {dev:.2e}"
    return dev


def matrix_params(cases: list[Case], identity: bool = False) -> list:
    """(case, path) parameters; for the identity check, position-dependent rows are strict xfails
    that name why, to be flipped when schedule-position semantics land."""
    params = []
    for case in cases:
        for path in case.paths:
            marks = [pytest.mark.xfail(strict=True, reason=case.position)] if identity and case.position else []
            params.append(pytest.param(case, path, marks=marks, id=f"{case}-{path}"))
    return params


_MODEL_DIR: list[Path] = []


def model_file(folder: str, name: str, state_dict: dict) -> str:
    """``name`` saved into a temp folder registered as a ComfyUI ``folder`` model folder (``loras``,
    ``controlnet``; created once per process, removed at exit), for the loader nodes to list and
    load. Returns the file name those nodes take."""
    if not _MODEL_DIR:
        _MODEL_DIR.append(Path(tempfile.mkdtemp(prefix="nested-compat-models-")))
        atexit.register(shutil.rmtree, _MODEL_DIR[0], True)
    where = _MODEL_DIR[0] / folder
    if not where.exists():
        where.mkdir()
        folder_paths.add_model_folder_path(folder, str(where))
    path = where / f"{name}.safetensors"
    if not path.exists():
        comfy.utils.save_torch_file(state_dict, str(path))
    return path.name


def lora_name(name: str, state_dict: dict) -> str:
    return model_file("loras", name, state_dict)


def tiny_lora(patcher, rank: int = 4, seed: int = 11, scale: float = 0.5) -> dict:
    """A LoRA in the generic ``diffusion_model.<layer>.lora_up/lora_down`` format ComfyUI maps
    onto the model's keys: rank-``rank`` seeded updates of every attention/projection linear."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, weight in patcher.model.state_dict().items():
        if name.startswith("diffusion_model.") and "transformer_blocks" in name and name.endswith(".weight") \
                and weight.ndim == 2:
            base = name[:-len(".weight")]
            out_dim, in_dim = weight.shape
            sd[f"{base}.lora_down.weight"] = torch.randn(rank, in_dim, generator=g) * in_dim ** -0.5
            sd[f"{base}.lora_up.weight"] = torch.randn(out_dim, rank, generator=g) * scale * rank ** -0.5
            sd[f"{base}.alpha"] = torch.tensor(float(rank))
    assert sd, "the model has no transformer linears to put a LoRA on"
    return sd
