// The steering panel's rules (docs/steering.md): pause/resume through the run state, the tiles,
// the prefilled form, what Continue sends, the replay line and the replay's seed widgets.
// Run: node --test tests/web
import assert from "node:assert/strict";
import { test } from "node:test";

import { NestedRuns, PHASE, canPause, canStop, statusText } from "../../web/run_state.js";
import {
  parseRecord, replayText, seedWidgets, steerBody, steerPrefill, tileSources, togglePick,
} from "../../web/steer_state.js";

const runsWithoutUrls = () => new NestedRuns({ createUrl: () => "blob:x", revokeUrl: () => {} });
const step = (node, prompt, k, total) => ({ node, prompt_id: prompt, step: k, total, nfe: k * 10, sigma: 1 });
const tile = (name) => ({ filename: name, subfolder: "nested_diffusion_steer", type: "temp" });
const paused = (extra = {}) => ({
  prompt_id: "p1", node: "7", record_node: "7", step: 2, total: 5, batch: 2,
  tiles: [tile("a.png"), tile("b.png")], can_edit_prompt: true, prompt_note: "", cfg: 3, timeout_s: 600,
  steering: "", ...extra,
});
const RECORD = JSON.stringify({ run: { batch: 4, seed: 7, outer_steps: 5 },
  steps: [{ after: 1, pick: [2] }, { after: 2, cfg: 5, prompt: "8" }], version: 1 });

function runningTo(runs, k) {
  runs.begin("7", "p1");
  for (let i = 1; i <= k; i++) runs.outerStep(step("7", "p1", i, 5));
}

test("Pause: the status says it comes after the current outer step; the button disables", () => {
  const runs = runsWithoutUrls();
  runningTo(runs, 1);
  assert.ok(canPause(runs.run("7")));
  runs.pauseRequested("7");
  assert.equal(canPause(runs.run("7")), false);
  assert.ok(canStop(runs.run("7")));
  assert.equal(statusText(runs.run("7")), "will pause after the current outer step (1/5 done)");
});

test("paused after outer step k/N: Stop & keep stays usable, Pause does not; resumed goes on", () => {
  const runs = runsWithoutUrls();
  runningTo(runs, 2);
  runs.pauseRequested("7");
  const pause = runs.paused(paused(), (p) => `/api${p}`);
  assert.equal(runs.run("7").phase, PHASE.PAUSED);
  assert.equal(statusText(runs.run("7")), "paused after outer step 2/5");
  assert.ok(canStop(runs.run("7")));
  assert.equal(canPause(runs.run("7")), false);
  assert.equal(pause.tiles.length, 2);
  assert.ok(pause.tiles[0].url.startsWith("/api/view?filename=a.png&subfolder=nested_diffusion_steer&type=temp"));

  runs.resumed({ prompt_id: "p1", node: "7", record_node: "7", step: 2, reason: "steered",
    applied: { pick: [1, 0], prompt: "8", cfg: 4 }, steering: RECORD });
  assert.equal(runs.run("7").phase, PHASE.RUNNING);
  assert.equal(runs.run("7").pause, null);
  assert.equal(statusText(runs.run("7")), "steered after outer step 2/5: picked 2, 1, new prompt, cfg 4; continuing…");
  runs.outerStep(step("7", "p1", 3, 5));
  assert.equal(statusText(runs.run("7")), "outer step 3/5 · 30 model calls");
});

test("resumed reasons: continued, timeout (exact text), stopped", () => {
  const runs = runsWithoutUrls();
  runningTo(runs, 2);
  runs.paused(paused());
  runs.resumed({ prompt_id: "p1", node: "7", step: 2, reason: "continued", applied: null, steering: "" });
  assert.equal(statusText(runs.run("7")), "continued unchanged after outer step 2/5…");

  runs.outerStep(step("7", "p1", 3, 5));
  runs.paused(paused({ step: 3, timeout_s: 600 }));
  runs.resumed({ prompt_id: "p1", node: "7", step: 3, reason: "timeout", applied: null, steering: "" });
  assert.equal(statusText(runs.run("7")), "pause timed out after 10 min; continued unchanged");

  runs.outerStep(step("7", "p1", 4, 5));
  runs.paused(paused({ step: 4 }));
  runs.resumed({ prompt_id: "p1", node: "7", step: 4, reason: "stopped", applied: null, steering: "" });
  assert.equal(runs.run("7").phase, PHASE.STOPPING);
  assert.equal(canStop(runs.run("7")), false);
  runs.finish("7");
  assert.equal(statusText(runs.run("7")), "stopped at 4/5");
});

test("pause events of another prompt or node, or of a run being stopped, are ignored", () => {
  const runs = runsWithoutUrls();
  runningTo(runs, 1);
  assert.equal(runs.paused(paused({ prompt_id: "old" })), null);
  assert.equal(runs.paused(paused({ node: "9" })), null);
  runs.stopRequested("7");
  assert.equal(runs.paused(paused()), null);
  assert.equal(runs.run("7").phase, PHASE.STOPPING);
});

test("a prompt failing while paused cancels the run and drops the pause", () => {
  const runs = runsWithoutUrls();
  runningTo(runs, 2);
  runs.paused(paused());
  runs.endPrompt("p1", { failed: true });
  assert.equal(runs.run("7").phase, PHASE.CANCELLED);
  assert.equal(runs.run("7").pause, null);
});

test("video tiles are each row's clip, with the still as fallback; missing files give no URL", () => {
  const sources = tileSources(paused({ tiles: [tile("a.png"), tile("b.png"), null],
    clips: [tile("a.webp"), null, null] }));
  assert.equal(sources.length, 3);
  assert.ok(sources[0].clip && sources[0].url.includes("filename=a.webp") && sources[0].still.includes("a.png"));
  assert.ok(!sources[1].clip && sources[1].url.includes("filename=b.png"));
  assert.equal(sources[2].url, null);
  assert.ok(sources[0].url.includes("nd=p1.2"), "the query differs per prompt and step");
});

test("picks toggle and keep their click order", () => {
  let picks = [];
  for (const i of [2, 0, 3]) picks = togglePick(picks, i);
  assert.deepEqual(picks, [2, 0, 3]);
  picks = togglePick(picks, 0);
  assert.deepEqual(picks, [2, 3]);
  assert.deepEqual(togglePick(picks, 0), [2, 3, 0]);
});

test("the form is prefilled from the text widgets, or from what this run steered last", () => {
  const first = steerPrefill(paused(), { prompt: "7", negative: "" });
  assert.deepEqual(first, { canEditPrompt: true, promptNote: "", prompt: "7", negative: "", cfg: 3 });
  const later = steerPrefill(paused({ steering: RECORD, cfg: 5 }), { prompt: "7", negative: "blur" });
  assert.equal(later.prompt, "8");
  assert.equal(later.negative, "blur");
  assert.equal(later.cfg, 5);
  const unknown = steerPrefill(paused(), { prompt: null, negative: null });
  assert.equal(unknown.prompt, "");
});

test("without a clip (or on SamplerNestedDiffusion) the fields are off with the server's note", () => {
  const note = "SamplerNestedDiffusion: the guider owns the conditioning; only pick";
  const prefill = steerPrefill(paused({ can_edit_prompt: false, prompt_note: note, cfg: null }), { prompt: "7" });
  assert.deepEqual(prefill, { canEditPrompt: false, promptNote: note, prompt: "", negative: "", cfg: null });
  // Whatever the fields hold, only the pick is sent.
  assert.deepEqual(steerBody("p1", prefill, { picks: [1], prompt: "9", negative: "x", cfg: "4" }).body,
    { prompt_id: "p1", pick: [1] });
  assert.match(steerPrefill(paused({ can_edit_prompt: false }), {}).promptNote, /off/);
});

test("Continue sends only what changed", () => {
  const prefill = steerPrefill(paused(), { prompt: "7", negative: "" });
  assert.deepEqual(steerBody("p1", prefill, { picks: [], prompt: "7", negative: "", cfg: "3" }).body,
    { prompt_id: "p1" });
  assert.deepEqual(steerBody("p1", prefill, { picks: [1, 0], prompt: "8", negative: "", cfg: "3.0" }).body,
    { prompt_id: "p1", pick: [1, 0], prompt: "8" });
  assert.deepEqual(steerBody("p1", prefill, { picks: [], prompt: "7", negative: "blur", cfg: "4.5" }).body,
    { prompt_id: "p1", negative: "blur", cfg: 4.5 });
  // An emptied cfg field means "unchanged"; a bad one is refused before sending.
  assert.deepEqual(steerBody("p1", prefill, { picks: [], prompt: "7", negative: "", cfg: "" }).body,
    { prompt_id: "p1" });
  assert.match(steerBody("p1", prefill, { picks: [], cfg: "101" }).error, /cfg must be/);
  assert.match(steerBody("p1", prefill, { picks: [], cfg: "abc" }).error, /cfg must be/);
});

test("the replay line counts the record's interventions", () => {
  assert.equal(replayText(""), "");
  assert.equal(replayText("  "), "");
  assert.equal(replayText(RECORD), "replay set: 2 interventions");
  assert.equal(replayText(JSON.stringify({ run: {}, steps: [{ after: 1, pick: [0] }], version: 1 })),
    "replay set: 1 intervention");
  assert.match(replayText("{not json"), /unreadable/);
  assert.equal(parseRecord("[1]"), null);
});

// Plain stand-ins for LiteGraph nodes: what graph_lookup.js reads.
function fakeNode(type, widgets = {}, inputs = {}) {
  const node = { comfyClass: type, widgets: [], inputs: [], getInputNode: (slot) => node.sources[slot] ?? null,
    sources: [] };
  for (const [name, value] of Object.entries(widgets)) node.widgets.push({ name, value });
  for (const [name, source] of Object.entries(inputs)) {
    node.inputs.push({ name });
    node.sources.push(source);
  }
  return node;
}

test("the replay's seed: seed / noise_seed, or the RandomNoise feeding noise (through Reroutes)", () => {
  const ks = fakeNode("NestedKSampler", { seed: 1, control_after_generate: "randomize" });
  assert.equal(seedWidgets(ks).seed.name, "seed");
  assert.equal(seedWidgets(ks).control.name, "control_after_generate");
  const adv = fakeNode("NestedKSamplerAdvanced", { noise_seed: 1 });
  const control = { name: "control_after_generate", value: "increment" };
  adv.widgets[0].linkedWidgets = [control];
  assert.equal(seedWidgets(adv).control, control);
  assert.equal(seedWidgets(fakeNode("SamplerCustom", { noise_seed: 3 })).seed.value, 3);
  const noise = fakeNode("RandomNoise", { noise_seed: 11, control_after_generate: "fixed" });
  const reroute = fakeNode("Reroute", {}, { "": noise });
  const custom = fakeNode("SamplerCustomAdvanced", {}, { noise: reroute });
  assert.equal(seedWidgets(custom).owner, noise);
  assert.equal(seedWidgets(custom).seed.value, 11);
  assert.equal(seedWidgets(fakeNode("SamplerCustomAdvanced", {}, { noise: fakeNode("DisableNoise") })), null);
  assert.equal(seedWidgets(fakeNode("KSampler", { seed: 1 })), null);
});

test("the timeout text takes the minutes the server says it waited", () => {
  const runs = runsWithoutUrls();
  runningTo(runs, 1);
  runs.paused(paused({ step: 1, timeout_s: 600 }));
  runs.resumed({ prompt_id: "p1", node: "7", step: 1, reason: "timeout", timeout_s: 6, applied: null, steering: "" });
  assert.equal(statusText(runs.run("7")), "pause timed out after 0.1 min; continued unchanged");
});
