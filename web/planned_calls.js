// Planned model calls of a nested run, from a node's widget values alone (no server call), so
// the node can show its cost before it runs. Pure: no DOM, no ComfyUI imports.
//
// Checked against the pack's Python (nested_core.nfe_plan over nodes/runtime/comfy_schedules.py) on
// both hosts by tests/host/sampling/test_planned_calls_js.py. The rules:
// * Schedulers that end at the model's smallest sigma (karras, exponential, normal,
//   ddim_uniform, kl_optimal, polyexponential) put the last of 2+ outer steps there, where the
//   inner run is a single model call: total = (outer - 1) x inner + 1.
// * The others (simple, sgm_uniform, beta, linear_quadratic, paper_faithful) stop above it:
//   total = outer x inner.
// * ddim_uniform's single outer step (outer = 1) is already at the smallest sigma: 1 call.
// * Table schedulers asked for more inner levels than the table holds below an outer step
//   give fewer: the count is then an upper bound, shown as "about".
// * Model calls per sampler come from the server's table (useCallTable); a sampler with extra
//   calls per step takes its last step (down to 0) as one Euler call.

export const FLOOR_SCHEDULERS = new Set([
  "karras", "exponential", "polyexponential", "normal", "ddim_uniform", "kl_optimal",
]);
export const STOP_ABOVE_FLOOR_SCHEDULERS = new Set([
  "simple", "sgm_uniform", "beta", "linear_quadratic", "paper_faithful",
]);

// Built from a sigma range, not read off the table: any number of levels fits.
const RANGE_SCHEDULERS = new Set(["karras", "exponential", "polyexponential", "kl_optimal"]);

// Model calls per sampler: the server's table (GET /nested_diffusion/model_calls, the same one
// the progress bar and the time budget use), given by the extension once it has loaded. Until
// then, and for a sampler the table does not list, a run is planned at one call per step and
// shown as an estimate.
let callTable = null;

/** The table from the server: {sampler name: {per_step, rule}}. */
export function useCallTable(table) {
  callTable = table && typeof table === "object" ? table : null;
}

// The paper_faithful grid is read off the model's sigma table; SD-family and flow models in
// ComfyUI have 1000 levels. Inner runs at an outer timestep t take min(inner, t) calls.
const TABLE_LEVELS = 1000;

/** Model calls of one inner run of `steps` schedule steps that ends at noise 0. */
export function callsPerInnerRun(sampler, steps, table = callTable) {
  if (steps <= 1) return 1;
  const entry = table?.[sampler];
  if (!entry) return steps;
  if (entry.rule === "heunpp2") return 3 * steps - 3; // 3 calls, then a Heun step, then Euler
  return entry.per_step * steps - (entry.per_step - 1);
}

/** Whether the table knows the sampler's calls in advance. */
function countable(sampler, table) {
  const entry = table?.[sampler];
  return entry != null && entry.rule !== "adaptive";
}

// torch.round rounds halves to even; the grid has halves (e.g. 250.5 for 4 outer steps).
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function paperOuterTimesteps(outer) {
  // round(linspace(1, T-1, min(N+1, T-1))) reversed, last point dropped (nested_core/schedules.py).
  const last = TABLE_LEVELS - 1;
  const points = Math.min(outer + 1, last);
  const grid = [];
  for (let k = 0; k < points; k++) grid.push(roundHalfEven(1 + ((last - 1) * k) / (points - 1)));
  return grid.reverse().slice(0, -1);
}

function wholeInRange(value, lo, hi) {
  return Number.isInteger(value) && value >= lo && value <= hi;
}

/**
 * Planned model calls of one nested node run (a CFG pair counts once, as in KSampler).
 * `outer`: outer steps of the whole schedule; `start`/`end`: the outer-step range the node runs
 * (the Advanced node; defaults to all of them). Leftover noise does not change the count.
 * Returns {calls, exact} or null when the inputs are not valid (the node will reject them).
 */
export function plannedCalls({ outer, inner, sampler, scheduler, start = 0, end = outer, table = callTable }) {
  if (!wholeInRange(outer, 1, 10000) || !wholeInRange(inner, 1, 10000)) return null;
  const stop = Math.min(end, outer);
  if (!wholeInRange(start, 0, 10000) || !(start < stop)) return null;
  const perRun = callsPerInnerRun(sampler, inner, table);
  let calls = 0;
  if (scheduler === "paper_faithful") {
    const timesteps = paperOuterTimesteps(outer).slice(start, stop);
    for (const t of timesteps) calls += callsPerInnerRun(sampler, Math.max(1, Math.min(inner, t)), table);
  } else {
    const runs = stop - start;
    // Only a run that reaches the schedule's end has its last outer step at the floor; with one
    // outer step that step is at the top, except for ddim_uniform, whose one step is table[1].
    const floorAtEnd = FLOOR_SCHEDULERS.has(scheduler) && (outer >= 2 || scheduler === "ddim_uniform");
    const atFloor = floorAtEnd && stop === outer ? 1 : 0;
    calls = (runs - atFloor) * perRun + atFloor;
  }
  const knownScheduler = FLOOR_SCHEDULERS.has(scheduler) || STOP_ABOVE_FLOOR_SCHEDULERS.has(scheduler);
  // Table schedulers cannot put more levels below an outer step than the model's table has
  // there (about 1000 / outer for the lowest one): then the inner runs are shorter than asked.
  const fitsTable = scheduler === "paper_faithful" || RANGE_SCHEDULERS.has(scheduler)
    || inner * outer <= TABLE_LEVELS / 2;
  return { calls, exact: knownScheduler && fitsTable && countable(sampler, table) };
}

/** The cost line shown on the node before it runs, e.g. "planned: 5 x 20 → 100 model calls";
 *  with a time budget (max_seconds > 0) the run may end sooner, which the line says. */
export function costText(plan, outerRuns, inner, maxSeconds = 0) {
  if (!plan) return "";
  const about = plan.exact ? "" : "about ";
  const budget = maxSeconds > 0 ? ` · at most ${maxSeconds} s` : "";
  return `planned: ${outerRuns} x ${inner} → ${about}${plan.calls} model calls${budget}`;
}
