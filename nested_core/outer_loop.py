"""``sample_nested``: the Nested Diffusion outer process as a k-diffusion sampler function.

Each outer step hands the current noisy latent to a complete inner sampling run down to noise
level 0. The inner result is the step's anytime image (reported through ``callback``) and the
x0 the outer DDIM(eta) step moves toward (see ``outer_step.outer_step``). The last outer step ends
at sigma 0, so the final sample is the last inner result.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from .outer_step import OUTER_DDIM, OUTER_FRESH, OUTER_NOISES, PATHS, VE, outer_step, reference_x0_scale
from .schedules import inner_run_schedule, validate_outer_sigmas

# Derived seeds stay below 2**63, so they fit the signed 64-bit integer every seed consumer
# (torch.manual_seed, numpy, ComfyUI's noise code) accepts.
SEED_MODULUS = 2**63
# Inner run i gets seed + INNER_SEED_STRIDE * (i + 1). The stride is odd, so the offsets of
# different outer steps never coincide modulo 2**63, and large, so the seeds a user steps
# through one by one (ComfyUI's "increment") do not replay one another's inner noise:
# seed s at outer step i shares inner noise with seed s' at step j only if
# s - s' = INNER_SEED_STRIDE * (j - i), about a million increments apart.
INNER_SEED_STRIDE = 1_000_003
# The outer (eta > 0) noise generator is seeded with seed + OUTER_NOISE_OFFSET: not the seed
# itself, which ComfyUI's starting noise uses (the outer noise would replay it), and not a
# multiple of the stride, which the inner runs use.
OUTER_NOISE_OFFSET = 17


class _StopRequested(Exception):
    """Raised inside an inner run to abandon it when the caller's stop check says so."""


class ModelCallGate:
    """The model as every inner run sees it, and the one place a run's model calls are counted.

    Each call first runs the caller's ``before_call`` hook (ComfyUI's interrupt check), then,
    once armed, polls ``should_stop`` and abandons the inner run when it says so; a call that
    goes through is counted (the NFE of the callback) and then reported to ``after_call`` with
    the count so far and the call's noise level (the ComfyUI adapter's progress bar and its
    schedule-position hooks read both from here instead of wrapping the model again).

    Every other attribute is forwarded, so samplers that reach for ``model.inner_model``
    (ComfyUI's ancestral and SDE samplers read ``model_sampling`` that way) see the real one.
    """

    def __init__(self, model: Callable[..., torch.Tensor], before_call: Callable[[], None] | None,
                 should_stop: Callable[[], bool] | None,
                 after_call: Callable[[int, float], None] | None = None):
        self._model = model
        self._before_call = before_call
        self._should_stop = should_stop
        self._after_call = after_call
        self.stop_armed = False
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self._before_call is not None:
            self._before_call()
        if self.stop_armed and self._should_stop is not None and self._should_stop():
            raise _StopRequested
        self.calls += 1
        out = self._model(x, sigma, *args, **kwargs)
        if self._after_call is not None:
            self._after_call(self.calls, float(sigma.reshape(-1)[0]))
        return out

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
    return (base + INNER_SEED_STRIDE * (outer_index + 1)) % SEED_MODULUS


def outer_noise_source(x: torch.Tensor, seed: int | None) -> Callable[[float, float], torch.Tensor]:
    """Standard normal draws for eta > 0 outer steps, seeded and drawn on the CPU so that a seed
    gives the same outer noise on every device."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed((0 if seed is None else int(seed)) % SEED_MODULUS + OUTER_NOISE_OFFSET)

    def draw(sigma: float, sigma_next: float) -> torch.Tensor:
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32, device="cpu")
        return z.to(dtype=x.dtype, device=x.device)

    return draw


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
    outer_noise: str = OUTER_DDIM,
    path: str = VE,
    noise_sampler: Callable[[float, float], torch.Tensor] | None = None,
    should_stop: Callable[[], bool] | None = None,
    before_model_call: Callable[[], None] | None = None,
    after_model_call: Callable[[int, float], None] | None = None,
    inner_extra_args: Callable[[dict, torch.Tensor, int], dict] | None = None,
    leftover_noise: bool = False,
    on_stop: Callable[[int], None] | None = None,
    between_steps: Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
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
            paths eta > 0 is the DDIM posterior (``outer_step.flow_posterior_split``), which is not
            the eta of ComfyUI's ``euler_ancestral_RF``.
        outer_noise: ``"ddim"``, the paper's outer step with ``eta``, or ``"fresh"``: each
            outer state is the step's image re-noised with fresh noise to the next level, the
            one step that keeps the right marginal when the inner sampler is deterministic
            (``outer_step`` says why); ``eta`` is then unused.
        path: ``"ve"`` for ``x = x0 + sigma*eps`` (EPS, V-prediction, EDM), ``"flow"`` for
            ``x = (1-sigma)*x0 + sigma*eps`` (SD3, Flux).
        noise_sampler: ``noise_sampler(sigma, sigma_next)`` gives standard normal noise for
            eta > 0 and fresh steps; defaults to a CPU generator seeded from ``extra_args['seed']``.
        should_stop: polled before every inner model call once an outer image exists, and after
            every outer step; when it returns True the run ends with the last completed outer
            step's image (with ``leftover_noise``: with its outer state moved to ``sigmas[-1]``
            by one deterministic outer step toward that image). The first outer step always
            completes, so a viable image is always returned.
        before_model_call: called before every inner model call (ComfyUI's interrupt check).
        after_model_call: ``f(calls_so_far, sigma)`` after every inner model call that went
            through (the ComfyUI adapter's progress bar and schedule-position bookkeeping).
        inner_extra_args: ``f(extra_args_copy, inner_sigmas, i)`` may adjust each inner run's
            extra_args (the ComfyUI adapter sets ``transformer_options['sample_sigmas']``).
        leftover_noise: allow ``sigmas`` to end above 0 (a partial run, like KSamplerAdvanced's
            return_with_leftover_noise): the result is then the outer state at ``sigmas[-1]``,
            from which a later run with the rest of the schedule continues.
        on_stop: called once, with the number of outer images made, when ``should_stop`` ends
            the run before its last outer step; a run that reaches its end never calls it.
        between_steps: ``f(k, x, image) -> (x, image)`` at every boundary the run continues
            past: after outer step k (1-based) has shown its image and moved the outer state to
            its next level, before the next inner runs. It may pause, or steer: return other
            rows (picking batch items) or change what the next inner runs call (``steering``).
            ``should_stop`` is polled again after it, so a stop while paused ends the run there.
            With ``outer_noise`` fresh the outer state is then made again from the returned
            image and the step's noise, so rows picked from one image go on as variants.

    Returns:
        The final sample, with the dtype and device of ``x``.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if not (isinstance(eta, (int, float)) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta must be in [0, 1], got {eta!r}")
    if outer_noise not in OUTER_NOISES:
        raise ValueError(f"outer_noise must be one of {OUTER_NOISES}, got {outer_noise!r}")
    renoises = eta > 0 or outer_noise == OUTER_FRESH
    outer = validate_outer_sigmas(sigmas, leftover_noise)
    extra_args = {} if extra_args is None else dict(extra_args)
    inner_options = dict(inner_options or {})
    seed = extra_args.get("seed")
    if renoises and noise_sampler is None:
        noise_sampler = outer_noise_source(x, seed)
    counted = ModelCallGate(model, before_model_call, should_stop, after_model_call)
    image = None

    def stop_here(steps_done: int, x_now: torch.Tensor, sigma_now: float) -> torch.Tensor:
        if on_stop is not None:
            on_stop(steps_done)
        return _stopped_result(path, x_now, image, sigma_now, outer[-1], leftover_noise)

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
            return stop_here(i, x, sigma)
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
        noise = noise_sampler(sigma, sigma_next) if (renoises and sigma_next > 0) else None
        x = outer_step(path, x, image, sigma, sigma_next, eta, noise, outer_noise).to(dtype=image.dtype)
        if sigma_next > outer[-1]:
            if should_stop is not None and should_stop():
                return stop_here(i + 1, x, sigma_next)
            if between_steps is not None:
                x, image = between_steps(i + 1, x, image)
                if outer_noise == OUTER_FRESH:
                    # A fresh state is its image plus this step's noise: made again from the
                    # image the hook returns, picked rows go on with each row's own noise.
                    x = outer_step(path, x, image, sigma, sigma_next, eta, noise, outer_noise).to(dtype=image.dtype)
                if should_stop is not None and should_stop():
                    return stop_here(i + 1, x, sigma_next)
    return x


def _stopped_result(path: str, x: torch.Tensor, image: torch.Tensor, sigma: float, end: float,
                    leftover_noise: bool) -> torch.Tensor:
    """What a stopped run returns: its last finished image; or, for a run that hands leftover
    noise on, its outer state ``x`` (at ``sigma``) moved to the run's end level by one
    deterministic outer step toward that image, with no model call, so that the next run of the
    chain continues from the level it expects."""
    if not leftover_noise:
        return image
    return outer_step(path, x, image, sigma, end, 0.0, None).to(dtype=image.dtype)
