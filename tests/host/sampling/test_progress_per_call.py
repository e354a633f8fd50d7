"""Progress inside inner runs: the pack's bar counts model calls against the planned total,
while previews still come once per outer step; a console bar that honours ``disable``."""

import re

import pytest

import comfy.sample
import comfy.utils
import latent_preview
from comfy.cli_args import LatentPreviewMethod
from comfy_extras import nodes_custom_sampler as custom

from host_fixtures import NODES, captured_progress, conds, empty_latent, pack_module, preview_method, tiny

progress_module = pack_module("nodes.runtime.progress")


@pytest.fixture
def every_call_sent(monkeypatch):
    # The per-call updates are rate-limited for the websocket (by the pack, and on newer hosts
    # by ProgressBar itself); here every one is recorded.
    monkeypatch.setattr(progress_module, "MIN_UPDATE_INTERVAL_S", 0.0)
    monkeypatch.setattr(comfy.utils, "PROGRESS_THROTTLE_MIN_INTERVAL", 0.0, raising=False)


class ModelCalls:
    """Counts the real model calls, and where each progress update fell between them."""

    def __init__(self, model, log: list):
        self.model = model.clone()
        self.count = 0
        self.model.set_model_unet_function_wrapper(self._wrapper)
        self.log = log

    def _wrapper(self, apply_model, call):
        self.count += 1
        self.log.append(("call", self.count))
        return apply_model(call["input"], call["timestep"], **call["c"])


def run_sampler_custom(model, inner_sampler="euler", inner_steps=3, scheduler="normal", outer=4, disable=True):
    positive, negative = conds()
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler(inner_sampler, inner_steps, scheduler, 0.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(tiny("eps"), "normal", outer, 1.0)[0]
    latent = empty_latent()["samples"]
    callback = latent_preview.prepare_callback(model, outer)  # as SamplerCustom does
    return comfy.sample.sample_custom(model, comfy.sample.prepare_noise(latent, 1), 2.0, sampler, sigmas, positive,
                                      negative, latent, callback=callback, disable_pbar=disable, seed=1)


@pytest.mark.parametrize("inner_sampler", ["euler", "heun", "dpmpp_2s_ancestral"])
@pytest.mark.parametrize("scheduler", ["normal", "karras", "paper_faithful"])
def test_progress_counts_every_model_call_up_to_the_planned_total(every_call_sent, inner_sampler, scheduler):
    log: list = []
    model = ModelCalls(tiny("eps"), log)
    with captured_progress() as updates:
        run_sampler_custom(model.model, inner_sampler, 3, scheduler)
    ours = [(v, t) for v, t, _ in updates if t != 4]  # the host's own bar counts the 4 outer steps
    totals = {t for _, t in ours}
    assert len(totals) == 1, f"the planned total never changes: {ours}"
    planned = totals.pop()
    assert planned == model.count, f"planned {planned} calls, made {model.count}"
    values = [v for v, _ in ours]
    assert values == sorted(values), "monotone"
    assert set(range(1, planned + 1)) <= set(values) and values[-1] == planned


def test_first_update_comes_after_the_first_call_before_the_first_outer_step_ends(every_call_sent):
    log: list = []
    model = ModelCalls(tiny("eps"), log)
    old = comfy.utils.PROGRESS_BAR_HOOK

    def hook(value, total, preview, prompt_id=None, node_id=None):
        log.append(("progress", value, total, preview is not None))

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        with preview_method(LatentPreviewMethod.Latent2RGB):
            run_sampler_custom(model.model, "euler", 3, "karras")
    finally:
        comfy.utils.set_progress_bar_global_hook(old)
    first_progress = next(i for i, e in enumerate(log) if e[0] == "progress")
    first_preview = next(i for i, e in enumerate(log) if e[0] == "progress" and e[3])
    assert log[first_progress - 1] == ("call", 1) and log[first_progress][1] == 1
    assert first_progress < first_preview, "progress moves inside the first inner run"
    # Previews come once per outer step, at its end (the first after the first inner run's 3
    # calls), never with a per-call update.
    calls_before_previews = [sum(1 for e in log[:i] if e[0] == "call")
                             for i, e in enumerate(log) if e[0] == "progress" and e[3]]
    assert len(calls_before_previews) == 4 and calls_before_previews[0] == 3
    assert calls_before_previews == sorted(set(calls_before_previews)) and calls_before_previews[-1] == model.count


@pytest.mark.parametrize("method", [LatentPreviewMethod.NoPreviews, LatentPreviewMethod.Latent2RGB])
def test_one_preview_per_outer_step_with_per_call_progress(every_call_sent, method):
    with preview_method(method), captured_progress() as updates:
        run_sampler_custom(tiny("eps"), "euler", 3, "karras")
    assert sum(has for _, _, has in updates) == 4


@pytest.mark.parametrize("enabled,disable,shown", [(True, False, True), (True, True, False), (False, False, False)])
def test_console_bar_follows_disable_and_the_global_switch(capsys, monkeypatch, enabled, disable, shown):
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_ENABLED", enabled)
    run_sampler_custom(tiny("eps"), "euler", 2, "karras", outer=2, disable=disable)
    err = capsys.readouterr().err
    assert (re.search(r"nested: 100%.* (\d+)/\1 ", err) is not None) == shown, err


def test_sampler_custom_x0_output_is_still_the_last_outer_image():
    positive, negative = conds()
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "karras", 0.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(tiny("eps"), "normal", 3, 1.0)[0]
    out = custom.SamplerCustom().sample(tiny("eps"), True, 5, 2.0, positive, negative, sampler, sigmas,
                                        empty_latent())
    out, denoised = out[0], out[1]
    # The last outer step ends at sigma 0: the host's x0 output is that step's image, the result.
    assert (out["samples"] - denoised["samples"]).abs().max().item() <= 1e-5
