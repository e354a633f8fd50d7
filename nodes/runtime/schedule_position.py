"""Where each inner run of a nested run stands in the schedule, as the host's features see it.

The pack's meaning (docs/schedule-position.md): a feature that ComfyUI switches by position in
the schedule is switched by NOISE LEVEL in a nested run; and the inner run at outer level
``sigma_i`` is, for the host, a sampling run along its PATH: the outer levels above ``sigma_i``
(the ones the run came down through) followed by the inner run's own schedule. With one inner
step that path is the outer schedule itself, so every feature behaves as under ComfyUI's own
``euler`` on the outer schedule.

Features that compare the current sigma with a level computed from a percent (timestep ranges,
ControlNet start/end, EasyCache/LazyCache start/end, skip-layer guidance, Differential
Diffusion's threshold, which reads the sampling call's own sigmas) need nothing: every inner
call carries its own sigma. What needs the pack is what ComfyUI builds once per sampling call
and walks forward as sigma falls, while a nested run climbs back up at every inner run:

* ``transformer_options["sample_sigmas"]`` is the path: ``[0]`` is the sampling call's start,
  the current sigma is found in it (context windows, HunyuanVideo), the next entry is the inner
  sampler's next level, and the index of the current sigma counts the steps along the path.
* hook keyframe groups only ever advance; at each inner run they restart and are walked down
  the path to its start, with their own ``prepare_current_keyframe``, so they stand where a
  plain run along the path would; weights patched for a strength that changed are dropped.
* EasyCache / LazyCache hold the previous call's input and output, and ComfyUI gives them a
  fresh holder per sampling call; an inner run that starts ABOVE the level of the last model
  call gets a fresh one too (APG's momentum follows the same rule on its own), so no reuse
  decision compares a state with the end of the previous inner run; with one inner step the
  level never rises and the state runs on, as in a plain run (bench/quality/cache_effect.py measures it).

Only public objects are used: the model options each inner run is called with, the hook objects
in the guider's conds and their ``reset`` / ``prepare_current_keyframe``, the patcher's
``clear_cached_hook_weights``, and the cache holder's ``clone`` / ``prepare_timesteps``.
"""

from __future__ import annotations

from typing import Any

import torch

import comfy.model_patcher

# The key under which ComfyUI's EasyCache and LazyCache nodes keep their holder.
CACHE_KEY = "easycache"


def path_sigmas(outer_sigmas: torch.Tensor, i: int, schedule: torch.Tensor) -> torch.Tensor:
    """The inner run at outer step ``i``: the outer levels above it, then its own schedule."""
    return torch.cat([outer_sigmas[:i].to(schedule), schedule])


def inner_run_options(model_options: dict, path: torch.Tensor) -> dict:
    """A copy of the sampling call's model options for one inner run, with ``path`` as its
    ``sample_sigmas``; the caller's stay as they are."""
    options = comfy.model_patcher.create_model_options_clone(model_options)
    options.setdefault("transformer_options", {})["sample_sigmas"] = path
    return options


def is_cache_holder(holder: Any) -> bool:
    return callable(getattr(holder, "clone", None)) and callable(getattr(holder, "prepare_timesteps", None))


def keyframe_groups(guider) -> list:
    """Each distinct keyframe group, with more than one keyframe, of the hooks in the guider's
    conds: what ComfyUI's ``prepare_hook_patches_current_keyframe`` walks."""
    groups: dict[int, Any] = {}
    for cond_list in (getattr(guider, "conds", None) or {}).values():
        for cond in cond_list or ():
            hook_group = cond.get("hooks") if isinstance(cond, dict) else None
            for hook in getattr(hook_group, "hooks", ()):
                group = getattr(hook, "hook_keyframe", None)
                if group is not None and len(getattr(group, "keyframes", ())) > 1:
                    groups[id(group)] = group
    return list(groups.values())


def walk_keyframes(groups: list, path: torch.Tensor, levels: int, restart: bool) -> None:
    """Walk the groups down the first ``levels`` levels of ``path`` as ComfyUI's first model
    call at each level would (from the first keyframe when ``restart``), so that its first
    call at ``path[levels - 1]`` finds them in place.

    A group skips a level equal to the last one it saw, and its reset keeps that level; so
    ``restart`` is for groups that have seen a level below ``path[0]`` (the caller knows)."""
    options = {"sample_sigmas": path}
    for group in groups:
        if restart:
            group.reset()
        for level in path[:levels]:
            group.prepare_current_keyframe(curr_t=level, transformer_options=options)


class InnerRunSetup:
    """The ``inner_extra_args`` hook of ``sample_nested`` for one ComfyUI sampling call whose
    k-diffusion model wrapper is ``model`` (its ``inner_model`` is the guider); ``saw_level``
    hears every model call's level, to know the last level the host's hooks saw."""

    def __init__(self, model, model_sampling, outer_sigmas: torch.Tensor, fresh_cache: bool = True):
        self._guider = getattr(model, "inner_model", None)
        self._patcher = getattr(self._guider, "model_patcher", None)
        self._model_sampling = model_sampling
        self._outer = outer_sigmas
        self._fresh_cache = fresh_cache
        self._cache = None
        self.last_sigma: float | None = None

    def saw_level(self, sigma: float) -> None:
        """A model call at ``sigma`` went through (told by the run's model gate)."""
        self.last_sigma = sigma

    def __call__(self, extra_args: dict, schedule: torch.Tensor, i: int) -> dict:
        path = path_sigmas(self._outer, i, schedule)
        options = inner_run_options(extra_args.get("model_options", {}), path)
        extra_args["model_options"] = options
        self._set_cache(options["transformer_options"], rises=self.last_sigma is not None
                        and float(schedule[0]) > self.last_sigma)
        if i > 0 and self._patcher is not None:
            self._restart_keyframes(path, i + 1, options)
        return extra_args

    def _set_cache(self, transformer_options: dict, rises: bool) -> None:
        holder = transformer_options.get(CACHE_KEY)
        if not (self._fresh_cache and is_cache_holder(holder)):
            return
        if self._cache is None:  # the first inner run: the holder ComfyUI made for this sampling call
            self._cache = holder
        elif rises:
            self._cache = self._cache.clone().prepare_timesteps(self._model_sampling)
        transformer_options[CACHE_KEY] = self._cache

    def _restart_keyframes(self, path: torch.Tensor, levels: int, model_options: dict) -> None:
        groups = keyframe_groups(self._guider)
        if not groups:
            return
        before = [group.strength for group in groups]
        # Only the first outer level seen so far (every earlier call was there): the groups
        # already stand where the path's first level puts them.
        seen_below_top = self.last_sigma != float(path[0])
        walk_keyframes(groups, path, levels, restart=seen_below_top)
        if any(group.strength != old for group, old in zip(groups, before)):
            self._patcher.clear_cached_hook_weights()
            # Multi-GPU sampling (0.33.0 and later) keeps a patcher per extra device.
            for clone in (model_options.get("multigpu_clones") or {}).values():
                clone.clear_cached_hook_weights()
