// The nested node's right-click entries and the choice of menu mechanism. Run: node --test tests/web
import assert from "node:assert/strict";
import { test } from "node:test";

import { PAUSE_LABEL, STOP_LABEL, hasNodeMenuHook, nodeMenuItems } from "../../web/node_menu.js";
import { PHASE } from "../../web/run_state.js";

const stop = () => "stop";
const pause = () => "pause";
const run = (fields) => ({ phase: PHASE.RUNNING, started: true, stopRequested: false, pauseRequested: false,
  ...fields });

function shown(items) {
  return items.map(({ content, disabled }) => [content, disabled]);
}

test("a node that does not run nested gets no entries", () => {
  assert.deepEqual(nodeMenuItems({ nested: false, run: run(), stop, pause }), []);
});

test("both entries, in order, disabled without a run", () => {
  const items = nodeMenuItems({ nested: true, run: null, stop, pause });
  assert.deepEqual(shown(items), [[STOP_LABEL, true], [PAUSE_LABEL, true]]);
  assert.equal(items[0].callback, stop);
  assert.equal(items[1].callback, pause);
});

test("a started run enables both", () => {
  assert.deepEqual(shown(nodeMenuItems({ nested: true, run: run(), stop, pause })),
    [[STOP_LABEL, false], [PAUSE_LABEL, false]]);
});

test("a run still loading its model (not started) enables neither", () => {
  assert.deepEqual(shown(nodeMenuItems({ nested: true, run: run({ started: false }), stop, pause })),
    [[STOP_LABEL, true], [PAUSE_LABEL, true]]);
});

test("a coming pause disables Pause only; a paused run can still be stopped", () => {
  assert.deepEqual(shown(nodeMenuItems({ nested: true, run: run({ pauseRequested: true }), stop, pause })),
    [[STOP_LABEL, false], [PAUSE_LABEL, true]]);
  assert.deepEqual(shown(nodeMenuItems({ nested: true, run: run({ phase: PHASE.PAUSED }), stop, pause })),
    [[STOP_LABEL, false], [PAUSE_LABEL, true]]);
});

test("an ended run disables both", () => {
  for (const phase of [PHASE.STOPPING, PHASE.STOPPED, PHASE.CANCELLED, PHASE.DONE]) {
    assert.deepEqual(shown(nodeMenuItems({ nested: true, run: run({ phase }), stop, pause })),
      [[STOP_LABEL, true], [PAUSE_LABEL, true]], phase);
  }
});

test("the hook is used where the app collects node menu items", () => {
  class NewApp { collectNodeMenuItems() { return []; } }
  assert.equal(hasNodeMenuHook(new NewApp()), true);
  assert.equal(hasNodeMenuHook({}), false);          // 1.27.10's app
  assert.equal(hasNodeMenuHook(undefined), false);
  assert.equal(hasNodeMenuHook({ collectNodeMenuItems: true }), false);
});
