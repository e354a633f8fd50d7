// The planned-cost rules shown on the node before it runs. The same function is checked
// against the pack's Python on a real host by tests/host/sampling/test_planned_calls_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { callsPerInnerRun, costText, plannedCalls, useCallTable } from "../../web/planned_calls.js";

// The shape GET /nested_diffusion/model_calls serves (nodes/runtime/model_calls.py); its numbers are
// checked against counted runs by tests/host/sampling/test_planned_calls_js.py.
const TABLE = {
  euler: { per_step: 1, rule: "last_step_one_call" },
  heun: { per_step: 2, rule: "last_step_one_call" },
  dpm_2: { per_step: 2, rule: "last_step_one_call" },
  dpmpp_sde: { per_step: 2, rule: "last_step_one_call" },
  seeds_3: { per_step: 3, rule: "last_step_one_call" },
  heunpp2: { per_step: 3, rule: "heunpp2" },
  dpm_adaptive: { per_step: 1, rule: "adaptive" },
};
useCallTable(TABLE);

const plan = (args) => plannedCalls({ sampler: "euler", ...args });

test("schedulers that stop above the model's smallest sigma cost outer x inner", () => {
  for (const scheduler of ["simple", "sgm_uniform", "beta", "linear_quadratic", "paper_faithful"]) {
    assert.deepEqual(plan({ outer: 5, inner: 20, scheduler }), { calls: 100, exact: true }, scheduler);
  }
});

test("schedulers ending at the smallest sigma make the last inner run one call", () => {
  for (const scheduler of ["karras", "exponential", "normal", "ddim_uniform", "kl_optimal"]) {
    assert.equal(plan({ outer: 5, inner: 20, scheduler }).calls, 4 * 20 + 1, scheduler);
    if (scheduler !== "ddim_uniform") {
      assert.equal(plan({ outer: 1, inner: 20, scheduler }).calls, 20, `${scheduler}: one outer step is a full run`);
    }
  }
  // ddim_uniform's single step is table[1], already the smallest level.
  assert.equal(plan({ outer: 1, inner: 20, scheduler: "ddim_uniform" }).calls, 1);
});

test("samplers with extra calls per step take the last step to 0 as one call", () => {
  assert.equal(callsPerInnerRun("euler", 4), 4);
  assert.equal(callsPerInnerRun("heun", 4), 7);
  assert.equal(callsPerInnerRun("dpmpp_sde", 1), 1);
  assert.equal(callsPerInnerRun("seeds_3", 3), 7);
  assert.equal(callsPerInnerRun("heunpp2", 3), 6);
  assert.equal(plan({ outer: 3, inner: 4, sampler: "heun", scheduler: "simple" }).calls, 3 * 7);
  assert.equal(plan({ outer: 3, inner: 4, sampler: "dpm_2", scheduler: "karras" }).calls, 2 * 7 + 1);
});

test("the Advanced node counts only its range; the floor step only when the range reaches the end", () => {
  assert.equal(plan({ outer: 6, inner: 10, scheduler: "normal", start: 0, end: 3 }).calls, 30);
  assert.equal(plan({ outer: 6, inner: 10, scheduler: "normal", start: 3, end: 10000 }).calls, 21);
  assert.equal(plan({ outer: 6, inner: 10, scheduler: "simple", start: 3, end: 10000 }).calls, 30);
});

test("paper_faithful inner runs are capped at the outer step's timestep", () => {
  // 5 outer steps on a 1000-level table sit at timesteps 999, 799, 600, 400, 201.
  assert.equal(plan({ outer: 5, inner: 300, scheduler: "paper_faithful" }).calls, 4 * 300 + 201);
  assert.equal(plan({ outer: 5, inner: 300, scheduler: "paper_faithful", start: 4 }).calls, 201);
});

test("without the server's table, or for a sampler it does not list, the plan is an estimate", () => {
  assert.deepEqual(plannedCalls({ outer: 2, inner: 3, sampler: "heun", scheduler: "simple", table: null }),
    { calls: 6, exact: false });
  assert.deepEqual(plan({ outer: 2, inner: 3, scheduler: "simple", sampler: "some_pack_sampler" }),
    { calls: 6, exact: false });
  assert.equal(callsPerInnerRun("heun", 4, null), 4);
});

test("unknown schedulers, adaptive samplers and runs longer than the table are estimates", () => {
  assert.equal(plan({ outer: 4, inner: 300, scheduler: "simple" }).exact, false);
  assert.equal(plan({ outer: 4, inner: 300, scheduler: "karras" }).exact, true);
  assert.deepEqual(plan({ outer: 2, inner: 3, scheduler: "some_pack_scheduler" }), { calls: 6, exact: false });
  assert.equal(plan({ outer: 2, inner: 3, scheduler: "simple", sampler: "dpm_adaptive" }).exact, false);
  assert.equal(costText(plan({ outer: 2, inner: 3, scheduler: "x" }), 2, 3), "planned: 2 x 3 → about 6 model calls");
  assert.equal(costText(plan({ outer: 5, inner: 20, scheduler: "simple" }), 5, 20), "planned: 5 x 20 → 100 model calls");
  assert.equal(costText(plan({ outer: 5, inner: 20, scheduler: "simple" }), 5, 20, 30),
    "planned: 5 x 20 → 100 model calls · at most 30 s");
});

test("inputs the node would reject give no plan", () => {
  assert.equal(plan({ outer: 0, inner: 3, scheduler: "simple" }), null);
  assert.equal(plan({ outer: 2, inner: 2.5, scheduler: "simple" }), null);
  assert.equal(plan({ outer: 4, inner: 3, scheduler: "simple", start: 4 }), null);
  assert.equal(plan({ outer: undefined, inner: 3, scheduler: "simple" }), null);
  assert.equal(costText(null, 1, 1), "");
});
