// The extension's per-node run state: pairing previews with outer steps, status text, the
// Stop & keep button state and the life of every object URL. Run: node --test tests/web
import assert from "node:assert/strict";
import { test } from "node:test";

import { NestedRuns, PHASE, canStop, costLine, frameLabel, statusText } from "../../web/run_state.js";

function tracked() {
  const live = new Set();
  let made = 0;
  const runs = new NestedRuns({
    createUrl: (blob) => {
      const url = `blob:${blob}#${++made}`;
      live.add(url);
      return url;
    },
    revokeUrl: (url) => {
      assert.ok(live.delete(url), `revoked ${url} twice or never made it`);
    },
  });
  return { runs, live };
}

const step = (node, prompt, k, total, extra = {}) =>
  ({ node, prompt_id: prompt, step: k, total, nfe: k * 20, sigma: 1 / k, ...extra });

test("each outer step gets the preview sent just before it, in order, on its own node", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.begin("9", "p1");
  for (let k = 1; k <= 3; k++) {
    runs.preview("7", "p1", `img7-${k}`);
    runs.preview("9", "p1", `img9-${k}`);
    runs.outerStep(step("9", "p1", k, 3));
    runs.outerStep(step("7", "p1", k, 3));
  }
  assert.deepEqual(runs.run("7").frames.map((f) => [f.step, f.url?.split("#")[0]]),
    [[1, "blob:img7-1"], [2, "blob:img7-2"], [3, "blob:img7-3"]]);
  assert.deepEqual(runs.run("9").frames.map((f) => f.url?.split("#")[0]),
    ["blob:img9-1", "blob:img9-2", "blob:img9-3"]);
});

test("a step whose preview never came has a labeled frame without an image", () => {
  const { runs, live } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 1, 2));
  assert.equal(runs.run("7").frames[0].url, null);
  assert.equal(live.size, 0);
  assert.equal(frameLabel(runs.run("7").frames[0]), "1 · 20 calls");
});

test("previews of other prompts, or of nodes that run nothing nested, are not kept", () => {
  const { runs, live } = tracked();
  runs.begin("7", "p2");
  runs.preview("7", "p1", "old-prompt");
  runs.preview("3", "p2", "plain-ksampler");
  runs.outerStep(step("7", "p2", 1, 2));
  assert.equal(runs.run("7").frames[0].url, null);
  assert.equal(runs.pending.size, 0);
  assert.equal(live.size, 0);
});

test("a SamplerCustom seen first through its outer_step event keeps its first preview", () => {
  const { runs } = tracked();
  runs.preview("12", "p1", "first", true);
  runs.outerStep(step("12", "p1", 1, 4));
  assert.equal(runs.run("12").frames[0].url.split("#")[0], "blob:first");
  assert.equal(runs.run("12").promptId, "p1");
});

test("a plain SamplerCustom's last preview is dropped when its prompt ends", () => {
  const { runs } = tracked();
  runs.preview("12", "p1", "plain-sampler-preview", true);
  assert.equal(runs.pending.size, 1);
  runs.endPrompt("p1", { failed: false });
  assert.equal(runs.pending.size, 0);
  assert.equal(runs.run("12"), null);
});

test("the strip stays after the run and is replaced, URLs revoked, when the node runs again", () => {
  const { runs, live } = tracked();
  runs.begin("7", "p1");
  for (let k = 1; k <= 2; k++) {
    runs.preview("7", "p1", `a${k}`);
    runs.outerStep(step("7", "p1", k, 2));
  }
  runs.endPrompt("p1", { failed: false });
  assert.equal(runs.run("7").frames.length, 2);
  assert.equal(live.size, 2);
  runs.begin("7", "p2");
  assert.equal(runs.run("7").frames.length, 0);
  assert.equal(live.size, 0);
});

test("a second run of the node inside one prompt starts a new strip", () => {
  const { runs, live } = tracked();
  runs.begin("7", "p1");
  for (const k of [1, 2, 1]) {
    runs.preview("7", "p1", `x${k}`);
    runs.outerStep(step("7", "p1", k, 2));
  }
  assert.deepEqual(runs.run("7").frames.map((f) => f.step), [1]);
  assert.equal(live.size, 1);
});

test("a deleted node releases its images and later events for it start from nothing", () => {
  const { runs, live } = tracked();
  runs.begin("7", "p1");
  runs.preview("7", "p1", "a");
  runs.outerStep(step("7", "p1", 1, 3));
  runs.preview("7", "p1", "b");
  runs.forget("7");
  assert.equal(live.size, 0);
  assert.equal(runs.run("7"), null);
  assert.equal(runs.pending.size, 0);
  runs.endPrompt("p1", { failed: true });  // the prompt's end finds nothing to update
  assert.equal(runs.run("7"), null);
});

test("status text through a full run: starting, outer step i/N with calls, done N/N", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  assert.equal(statusText(runs.run("7")), "starting the first outer step…");
  runs.outerStep(step("7", "p1", 1, 3, { planned: 60 }));
  assert.equal(statusText(runs.run("7")), "outer step 1/3 · 20/60 model calls");
  runs.outerStep(step("7", "p1", 2, 3, { planned: 60 }));
  runs.outerStep(step("7", "p1", 3, 3, { planned: 60 }));
  runs.finish("7");
  assert.equal(statusText(runs.run("7")), "done 3/3");
  assert.equal(runs.run("7").phase, PHASE.DONE);
});

test("the status shows the sampling time when the server sends it", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 1, 5, { planned: 100, elapsed: 3.24 }));
  assert.equal(statusText(runs.run("7")), "outer step 1/5 · 20/100 model calls · 3.2 s");
});

test("without a planned total the status shows the calls so far", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 2, 5));
  assert.equal(statusText(runs.run("7")), "outer step 2/5 · 40 model calls");
});

test("a stop: the button disables at once, and the status reads stopped at k/N at the node's end", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 1, 5));
  runs.outerStep(step("7", "p1", 2, 5));
  assert.ok(canStop(runs.run("7")));
  runs.stopRequested("7");
  assert.equal(canStop(runs.run("7")), false);
  assert.equal(statusText(runs.run("7")), "stopping: keeping outer step 2/5…");
  runs.finish("7");
  assert.equal(statusText(runs.run("7")), "stopped at 2/5");
});

test("a run that ended short without an error reads stopped (a server-side stop rule)", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 1, 4));
  runs.endPrompt("p1", { failed: false });
  assert.equal(statusText(runs.run("7")), "stopped at 1/4");
});

test("an interrupt or error cancels only the runs still active in that prompt", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 1, 1));
  runs.finish("7");
  runs.begin("9", "p1");
  runs.outerStep(step("9", "p1", 2, 6));
  runs.begin("11", "p0");
  runs.endPrompt("p1", { failed: true });
  assert.equal(statusText(runs.run("7")), "done 1/1");
  assert.equal(statusText(runs.run("9")), "cancelled at 2/6");
  assert.equal(runs.run("11").phase, PHASE.RUNNING);
  assert.deepEqual(runs.activeIn("p1", null), []);
  assert.deepEqual(runs.activeIn("p0", null), ["11"]);
});

test("the button is enabled only once the nested sampler runs, and never after the end", () => {
  const { runs } = tracked();
  assert.equal(canStop(null), false);
  runs.begin("7", "p1");
  assert.equal(canStop(runs.run("7")), false, "model still loading: the server has nothing to stop");
  assert.equal(runs.samplerProgress("7", "p0"), false, "progress of another prompt");
  assert.equal(runs.samplerProgress("7", "p1"), true);
  assert.equal(runs.samplerProgress("7", "p1"), false, "only the first update is news");
  assert.equal(canStop(runs.run("7")), true);
  runs.endPrompt("p1", { failed: true });
  assert.equal(canStop(runs.run("7")), false);
  runs.stopRequested("7");
  assert.equal(statusText(runs.run("7")), "cancelled at 0/?");
});

test("forgetAll releases every URL", () => {
  const { runs, live } = tracked();
  for (const node of ["1", "2"]) {
    runs.begin(node, "p");
    runs.preview(node, "p", node);
    runs.outerStep(step(node, "p", 1, 2));
  }
  assert.equal(live.size, 2);
  runs.forgetAll();
  assert.equal(live.size, 0);
});

// ---- video runs: the outer step's draft clip ------------------------------------------------

const clip = (extra = {}) => ({ filename: "nd_clip_00002_.webp", subfolder: "nested_diffusion", type: "temp",
  frames: 17, fps: 16, width: 96, height: 64, ...extra });

test("a video step's frame carries its clip: a /view address that differs per prompt and step", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.preview("7", "p1", "still-1");
  const first = runs.outerStep(step("7", "p1", 1, 2, { clip: clip() }), (path) => `/api${path}`);
  const url = new URL(first.clip.url, "http://host");
  assert.equal(url.pathname, "/api/view");
  assert.equal(url.searchParams.get("filename"), "nd_clip_00002_.webp");
  assert.equal(url.searchParams.get("subfolder"), "nested_diffusion");
  assert.equal(url.searchParams.get("type"), "temp");
  assert.deepEqual({ ...first.clip, url: undefined }, { url: undefined, frames: 17, fps: 16, width: 96, height: 64 });
  // The still preview is kept as the entry's fallback image.
  assert.equal(first.url.split("#")[0], "blob:still-1");
  // The same file name in a later step or prompt is a different address (no stale cached clip).
  const second = runs.outerStep(step("7", "p1", 2, 2, { clip: clip() }));
  runs.begin("7", "p2");
  const again = runs.outerStep(step("7", "p2", 1, 2, { clip: clip() }));
  const addresses = new Set([first.clip.url, `/api${second.clip.url}`, `/api${again.clip.url}`]);
  assert.equal(addresses.size, 3);
});

test("file names with URL characters are encoded, not cut", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  const frame = runs.outerStep(step("7", "p1", 1, 1, { clip: clip({ filename: "a&b=c #1.webp", subfolder: "x/y" }) }));
  const url = new URL(frame.clip.url, "http://host");
  assert.equal(url.searchParams.get("filename"), "a&b=c #1.webp");
  assert.equal(url.searchParams.get("subfolder"), "x/y");
});

test("an image run's frames have no clip, and a malformed clip field is ignored", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  assert.equal(runs.outerStep(step("7", "p1", 1, 4)).clip, null);
  assert.equal(runs.outerStep(step("7", "p1", 2, 4, { clip: null })).clip, null);
  assert.equal(runs.outerStep(step("7", "p1", 3, 4, { clip: { frames: 3 } })).clip, null);
  const odd = runs.outerStep(step("7", "p1", 4, 4, { clip: clip({ frames: "many", fps: -1 }) })).clip;
  assert.equal(odd.frames, null);
  assert.equal(odd.fps, null);
});

test("a video run's status says how many frames the clip has; an image run's does not change", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.outerStep(step("7", "p1", 1, 3, { planned: 60, elapsed: 1.21, clip: clip() }));
  assert.equal(statusText(runs.run("7")), "outer step 1/3 · 17-frame clip · 20/60 model calls · 1.2 s");
  runs.stopRequested("7");
  assert.equal(statusText(runs.run("7")), "stopping: keeping outer step 1/3… · 17-frame clip");
  runs.finish("7");
  assert.equal(statusText(runs.run("7")), "stopped at 1/3 · 17-frame clip");
  runs.begin("9", "p1");
  runs.outerStep(step("9", "p1", 3, 3, { planned: 60 }));
  runs.finish("9");
  assert.equal(statusText(runs.run("9")), "done 3/3");
});

// ---- the planned-cost line during a run -----------------------------------------------------

const widgets = (outer, inner, calls, extra = {}) =>
  ({ plan: { calls, exact: true }, outerRuns: outer, inner, maxSeconds: 0, ...extra });

test("the cost line shows the widgets' plan before a run and while the run agrees with it", () => {
  const { runs } = tracked();
  assert.equal(costLine(widgets(5, 20, 100), null), "planned: 5 x 20 → 100 model calls");
  runs.begin("7", "p1");
  assert.equal(costLine(widgets(5, 20, 100), runs.run("7")), "planned: 5 x 20 → 100 model calls");
  runs.samplerProgress("7", "p1", 100);
  assert.equal(costLine(widgets(5, 20, 100), runs.run("7")), "planned: 5 x 20 → 100 model calls");
});

test("a run planning other calls than the widgets say shows its own figure from its first progress", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  assert.equal(runs.samplerProgress("7", "p1", 720), true);
  assert.equal(runs.run("7").planned, 720);
  assert.equal(costLine(widgets(5, 20, 100), runs.run("7")), "planned: 720 model calls (this run)");
  runs.outerStep(step("7", "p1", 1, 6, { planned: 720 }));
  assert.equal(costLine(widgets(5, 20, 100), runs.run("7")), "planned: 6 outer steps → 720 model calls (this run)");
  // After the run the line is the widgets' again (read afresh from them each time).
  runs.finish("7");
  assert.equal(costLine(widgets(6, 120, 720), runs.run("7")), "planned: 6 x 120 → 720 model calls");
});

test("the event's planned figure wins over the first progress; later progress changes nothing", () => {
  const { runs } = tracked();
  runs.begin("7", "p1");
  runs.samplerProgress("7", "p1", 24);
  runs.samplerProgress("7", "p1", 4);  // the host's outer-step bar, not the plan
  assert.equal(runs.run("7").planned, 24);
  runs.outerStep(step("7", "p1", 1, 4, { planned: 26 }));
  assert.equal(runs.run("7").planned, 26);
});

test("a cost line without a count (SamplerCustom fed by other sigmas) shows the run's figure while it runs", () => {
  const { runs } = tracked();
  const cost = { text: "6 model calls per outer step" };
  assert.equal(costLine(cost, null), "6 model calls per outer step");
  runs.begin("9", "p1");
  runs.samplerProgress("9", "p1", 30);
  assert.equal(costLine(cost, runs.run("9")), "planned: 30 model calls (this run)");
  assert.equal(costLine({ text: "" }, null), "");
});
