"""``sample_nested``: the Nested Diffusion outer process as a k-diffusion sampler function.

Each outer step hands the current noisy latent to a complete inner sampling run down to noise
level 0. The inner result is the step's anytime image (reported through ``callback``) and the
x0 the outer DDIM(eta) step moves toward (see ``paths.outer_step``). The last outer step ends
at sigma 0, so the final sample is the last inner result.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch

from .paths import PATHS, VE, outer_step, reference_x0_scale

SEED_MODULUS = 2**63


class _StopRequested(Exception):
    """Raised inside an inner run to abandon it when the caller's stop check says so."""


class CountingModel:
    """Stands in for the model inside inner runs: counts calls and polls the caller's hooks.

    Every other attribute is forwarded, so samplers that reach for ``model.inner_model``
    (ComfyUI's ancestral and SDE samplers read ``model_sampling`` that way) see the real one.
    """

    def __init__(self, model: Callable[..., torch.Tensor], before_call: Callable[[], None] | None,
                 should_stop: Callable[[], bool] | None):
        self._model = model
        self._before_call = before_call
        self._should_stop = should_stop
        self.stop_armed = False
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self._before_call is not None:
            self._before_call()
        if self.stop_armed and self._should_stop is not None and self._should_stop():
            raise _StopRequested
        self.calls += 1
        return self._model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def name_outer_step(error: BaseException, where: str) -> None:
    """Append the failing outer step to an error raised inside an inner run, in place.

    The error keeps its type and traceback, so the host still recognises it (ComfyUI frees
    memory on an out-of-memory error and reports an interrupt as such). Only errors whose
    message is their first argument are touched; argument-less ones (an interrupt) are not.
    """
    if error.args and isinstance(error.args[0], str) and where not in error.args[0]:
        error.args = (f"{error.args[0]} [nested diffusion: during the inner run of {where}]",) + error.args[1:]


def inner_seed(seed: int | None, outer_index: int) -> int:
    """Seed of the inner run at ``outer_index``: reproducible, and different at every outer step,
    so stochastic inner samplers (which seed their noise from ``extra_args['seed']``) do not
    replay the same noise in every inner run."""
    base = 0 if seed is None else int(seed)
    return (base + 1_000_003 * (outer_index + 1)) % SEED_MODULUS


def outer_noise_source(x: torch.Tensor, seed: int | None) -> Callable[[float, float], torch.Tensor]:
    """Standard normal draws for eta > 0 outer steps, seeded and drawn on the CPU so that a seed
    gives the same outer noise on every device."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed((0 if seed is None else int(seed)) % SEED_MODULUS + 17)

    def draw(sigma: float, sigma_next: float) -> torch.Tensor:
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32, device="cpu")
        return z.to(dtype=x.dtype, device=x.device)

    return draw


def validate_outer_sigmas(sigmas: torch.Tensor, leftover_noise: bool = False) -> list[float]:
    """Outer schedule as floats; raises ValueError unless it is strictly descending and ends at 0
    (or, with ``leftover_noise``, at any level >= 0)."""
    if sigmas is None or sigmas.numel() < 2:
        raise ValueError("sigmas must hold at least 2 values (one outer step), descending to 0; got "
                         f"{0 if sigmas is None else sigmas.numel()}")
    values = [float(s) for s in sigmas.flatten()]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"sigmas must be finite, without NaN or inf; got {values[:8]}")
    if values[-1] < 0.0 or (values[-1] != 0.0 and not leftover_noise):
        raise ValueError(f"sigmas must end at 0 (the last outer step returns the inner sample); ends at {values[-1]:g}")
    if any(b >= a for a, b in zip(values, values[1:])):
        raise ValueError("sigmas must be strictly descending (outer noise levels from high to 0)")
    return values


def _validate_inner(sigma: float, inner: torch.Tensor) -> torch.Tensor:
    values = inner.flatten()
    if values.numel() < 2:
        raise ValueError(f"inner_sigmas({sigma:g}) must return at least 2 values, got {values.numel()}")
    if not math.isclose(float(values[0]), sigma, rel_tol=1e-6, abs_tol=1e-12):
        raise ValueError(f"inner_sigmas({sigma:g}) must start at the outer sigma, starts at {float(values[0]):g}")
    if bool((values[1:] >= values[:-1]).any()):
        raise ValueError(f"inner_sigmas({sigma:g}) must be strictly descending")
    return values


def _at_precision(schedule: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The inner schedule in the outer schedule's dtype and device, as a fresh tensor (some
    samplers, ComfyUI's uni_pc among them, write into the one they get). Levels that coincide
    at that precision are merged: samplers divide by level differences."""
    cast = schedule.to(device=like.device, dtype=like.dtype)
    keep = torch.ones_like(cast, dtype=torch.bool)
    keep[1:] = cast[1:] < cast[:-1]
    return cast[keep].clone()


def inner_run_schedule(inner_sigmas: Callable[[float], torch.Tensor], sigma: float,
                       outer_sigmas: torch.Tensor) -> torch.Tensor:
    """The schedule the inner run at outer level ``sigma`` is given: ``inner_sigmas(sigma)``,
    checked, in the outer schedule's dtype, with levels that coincide at that precision merged."""
    return _at_precision(_validate_inner(sigma, torch.as_tensor(inner_sigmas(sigma))), outer_sigmas)


@torch.no_grad()
def sample_nested(
    model: Callable[..., torch.Tensor],
    x: torch.Tensor,
    sigmas: torch.Tensor,
    extra_args: Mapping[str, Any] | None = None,
    callback: Callable[[dict], None] | None = None,
    disable: bool | None = None,
    *,
    inner_sampler: Callable[..., torch.Tensor],
    inner_sigmas: Callable[[float], torch.Tensor],
    inner_options: Mapping[str, Any] | None = None,
    eta: float = 0.0,
    path: str = VE,
    noise_sampler: Callable[[float, float], torch.Tensor] | None = None,
    should_stop: Callable[[], bool] | None = None,
    before_model_call: Callable[[], None] | None = None,
    inner_extra_args: Callable[[dict, torch.Tensor, int], dict] | None = None,
    leftover_noise: bool = False,
) -> torch.Tensor:
    """Nested Diffusion with the k-diffusion sampler convention.

    Args:
        model: ``model(x, sigma * s_in, **extra_args)`` returns the denoised x0.
        x: the starting latent, already noise-scaled for ``sigmas[0]``.
        sigmas: the outer schedule, strictly descending, ending at 0.
        extra_args: passed to every model call; each inner run gets a copy whose ``seed`` is
            ``inner_seed(seed, i)``.
        callback: called exactly once per outer step with ``{"i", "x", "sigma", "sigma_hat",
            "denoised", "nfe"}``: ``denoised`` is that step's inner result (the anytime image),
            ``x`` the outer state it started from, ``nfe`` the model calls made so far (a CFG
            pair is one call). Inner runs never call it.
        disable: accepted for the k-diffusion signature; this sampler draws no console bar.
        inner_sampler: a k-diffusion sampler function used for every inner run.
        inner_sigmas: maps the outer sigma (a float) to the inner run's schedule, starting at
            that sigma and descending to 0 (or to a small sigma_end > 0: the result is then read
            the reference's way, scaled by ``1/sqrt(1 + sigma_end^2)`` on VE paths).
        inner_options: extra keyword arguments for ``inner_sampler``.
        eta: outer stochasticity, 0 (deterministic DDIM, the reference default) to 1. On flow
            paths eta > 0 is the DDIM posterior (``paths.flow_posterior_split``), which is not
            the eta of ComfyUI's ``euler_ancestral_RF``.
        path: ``"ve"`` for ``x = x0 + sigma*eps`` (EPS, V-prediction, EDM), ``"flow"`` for
            ``x = (1-sigma)*x0 + sigma*eps`` (SD3, Flux).
        noise_sampler: ``noise_sampler(sigma, sigma_next)`` gives standard normal noise for
            eta > 0 steps; defaults to a CPU generator seeded from ``extra_args['seed']``.
        should_stop: polled before every inner model call once an outer image exists; when it
            returns True the run ends with the last completed outer step's image. The first
            outer step always completes, so a viable image is always returned.
        before_model_call: called before every inner model call (ComfyUI's interrupt check).
        inner_extra_args: ``f(extra_args_copy, inner_sigmas, i)`` may adjust each inner run's
            extra_args (the ComfyUI adapter sets ``transformer_options['sample_sigmas']``).
        leftover_noise: allow ``sigmas`` to end above 0 (a partial run, like KSamplerAdvanced's
            return_with_leftover_noise): the result is then the outer state at ``sigmas[-1]``,
            from which a later run with the rest of the schedule continues.

    Returns:
        The final sample, with the dtype and device of ``x``.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if not (isinstance(eta, (int, float)) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta must be in [0, 1], got {eta!r}")
    outer = validate_outer_sigmas(sigmas, leftover_noise)
    extra_args = {} if extra_args is None else dict(extra_args)
    inner_options = dict(inner_options or {})
    seed = extra_args.get("seed")
    if eta > 0 and noise_sampler is None:
        noise_sampler = outer_noise_source(x, seed)
    counted = CountingModel(model, before_model_call, should_stop)
    image = None

    for i in range(len(outer) - 1):
        sigma, sigma_next = outer[i], outer[i + 1]
        schedule = inner_run_schedule(inner_sigmas, sigma, sigmas)
        run_args = dict(extra_args)
        run_args["seed"] = inner_seed(seed, i)
        if inner_extra_args is not None:
            run_args = inner_extra_args(run_args, schedule, i)
        counted.stop_armed = image is not None
        where = f"outer step {i + 1}/{len(outer) - 1} (sigma {sigma:g})"
        try:
            y = inner_sampler(counted, x.clone(), schedule, extra_args=run_args, callback=None,
                              disable=True, **inner_options)
        except _StopRequested:
            return image
        except Exception as error:
            name_outer_step(error, where)
            raise
        step_image = y * reference_x0_scale(path, float(schedule[-1]))
        if not bool(torch.isfinite(step_image).all()):
            raise RuntimeError(f"the model produced NaN or inf during the inner run of {where}; "
                               "check the model, its dtype and the cfg")
        image = step_image.to(dtype=x.dtype)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigmas[i], "sigma_hat": sigmas[i],
                      "denoised": image, "nfe": counted.calls})
        noise = noise_sampler(sigma, sigma_next) if (eta > 0 and sigma_next > 0) else None
        x = outer_step(path, x, image, sigma, sigma_next, eta, noise).to(dtype=image.dtype)
        if should_stop is not None and sigma_next > 0 and should_stop():
            return image
    return x
