"""The bench's model-call counters: how many times a sampler ran the diffusion model.

* ``ModelCalls``: the forward-hook counter every bench that counts forwards uses (a batched
  cond/uncond CFG pair is one forward), with the time spent inside forwards and when the first
  one began.
* ``SamplerCalls``: one call per denoised prediction (a post-CFG function), for models whose
  cond and uncond halves ComfyUI may run as two forwards (the video demo).
* ``CacheAwareCalls``: a DIFFUSION_MODEL wrapper, for models behind EasyCache or LazyCache, which
  answer a skipped call inside the model's forward (a forward hook would count it too).
"""

from __future__ import annotations

import time


def _nothing() -> None:
    return None


class ModelCalls:
    """Counts diffusion-model forwards with forward hooks: ``count``; ``seconds`` spent inside them;
    ``first_start``, ``time.perf_counter()`` when the first forward since ``reset()`` began.
    On ``device="cuda"`` it synchronises around every forward, so ``seconds`` are the GPU's."""

    def __init__(self, model_patcher, device: str = "cpu"):
        import torch

        self._sync = torch.cuda.synchronize if device == "cuda" else _nothing
        self.reset()
        diffusion_model = model_patcher.model.diffusion_model
        diffusion_model.register_forward_pre_hook(self._before)
        diffusion_model.register_forward_hook(self._after)

    def reset(self) -> None:
        self.count, self.seconds, self.first_start, self._start = 0, 0.0, None, None

    def _before(self, _module, _inputs):
        self._sync()
        self._start = time.perf_counter()
        if self.first_start is None:
            self.first_start = self._start

    def _after(self, _module, _inputs, _output):
        self._sync()
        self.count += 1
        self.seconds += time.perf_counter() - self._start


class SamplerCalls:
    """Counts the model calls a sampler makes (one per denoised prediction, cond and uncond together)
    with a post-CFG function: ComfyUI may run a model's cond and uncond halves as two forwards, so
    the forward hook of ``ModelCalls`` would count each call twice."""

    def __init__(self, model_patcher):
        self.count = 0
        model_patcher.set_model_sampler_post_cfg_function(self._count)

    def _count(self, args):
        self.count += 1
        return args["denoised"]


class CacheAwareCalls:
    """Counts the diffusion model's real forwards. EasyCache answers a skipped call inside the
    model's forward (a DIFFUSION_MODEL wrapper), so a forward hook would count it too; this is a
    DIFFUSION_MODEL wrapper added after the cache's, so it runs only when the cache lets the call
    through (a CFG pair batched together is one forward)."""

    def __init__(self):
        self.count = 0

    def counted(self, model):
        import comfy.patcher_extension

        model = model.clone()
        model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "cache_effect_count",
                                   self._wrapper)
        return model

    def _wrapper(self, executor, *args, **kwargs):
        self.count += 1
        return executor(*args, **kwargs)
