// The run's clip note (the outer_step event's `clip_note`: a video TAE on the CPU was too slow, so
// the run's later clips are latent2rgb) in the node's status line, next to the clip's length.
// Run: node --test tests/web
import assert from "node:assert/strict";
import { test } from "node:test";

import { clipStatusText } from "../../web/clip_player.js";
import { NestedRuns, statusText } from "../../web/run_state.js";

const NOTE = "latent2rgb clips: the video TAE took 62% of an outer step on the CPU";
const clip = (frames) => ({ filename: `7_abc_00${frames}.webp`, subfolder: "nested_diffusion_clips", type: "temp",
  frames, fps: 4, width: 8, height: 8 });
const step = (k, extra = {}) => ({ node: "7", prompt_id: "p1", step: k, total: 3, nfe: 2 * k, sigma: 1 / k,
  planned: 6, elapsed: k, ...extra });

function runs() {
  const made = new NestedRuns({ createUrl: (blob) => `blob:${blob}`, revokeUrl: () => {} });
  made.begin("7", "p1");
  return made;
}

test("the clip's words: its length, with the note where there is one", () => {
  assert.equal(clipStatusText({ frames: 9 }, null), "9-frame clip");
  assert.equal(clipStatusText({ frames: 3 }, NOTE), `3-frame clip (${NOTE})`);
  assert.equal(clipStatusText(null, NOTE), NOTE, "no clip at all (a format without latent2rgb tables)");
  assert.equal(clipStatusText(null, null), "");
  assert.equal(clipStatusText({ frames: 3 }, 42), "3-frame clip", "a note that is not text is not shown");
});

test("the status line shows the note from the step that sent it on", () => {
  const state = runs();
  state.outerStep(step(1, { clip: clip(9) }));
  assert.equal(statusText(state.run("7")), "outer step 1/3 · 9-frame clip · 2/6 model calls · 1.0 s");
  state.outerStep(step(2, { clip: clip(3), clip_note: NOTE }));
  assert.equal(statusText(state.run("7")), `outer step 2/3 · 3-frame clip (${NOTE}) · 4/6 model calls · 2.0 s`);
  state.outerStep(step(3, { clip: clip(3), clip_note: NOTE }));
  state.finish("7");
  assert.equal(statusText(state.run("7")), `done 3/3 · 3-frame clip (${NOTE})`);
});

test("an event without the note (older servers, GPUs, fast clips) shows the clip alone", () => {
  const state = runs();
  state.outerStep(step(1, { clip: clip(9), clip_note: "" }));
  assert.equal(state.run("7").frames[0].clipNote, null);
  assert.equal(statusText(state.run("7")), "outer step 1/3 · 9-frame clip · 2/6 model calls · 1.0 s");
});
