// What each nested node shows about its current (or last) run: the outer-step images in order,
// the status line and whether Stop & keep can be used. Pure: fed with the websocket events'
// details by nested_diffusion.js; object URLs are made and revoked through the two functions
// given to the constructor, so every URL's life is visible to the tests. A video run's outer
// step also names its draft clip (an animated WebP in ComfyUI's temp folder, served by /view).
import { clipStatusText } from "./clip_player.js";
import { costText } from "./planned_calls.js";
import { pausedText, pausingText, resumedText, tileSources } from "./steer_state.js";

export const PHASE = Object.freeze({
  RUNNING: "running",
  PAUSED: "paused",      // waiting at an outer-step boundary for Continue (docs/steering.md)
  STOPPING: "stopping",
  STOPPED: "stopped",
  CANCELLED: "cancelled",
  DONE: "done",
});

const ACTIVE = new Set([PHASE.RUNNING, PHASE.PAUSED, PHASE.STOPPING]);

function newRun(promptId) {
  // started: the nested sampler itself has begun (a progress update or an outer step came), so
  // the server has a run to stop; before that the node may still be loading its model.
  // pauseRequested: Pause was accepted, the pause comes at the end of the current outer step;
  // pause: what the paused event gave (tiles, prefill facts) while paused; resumed: why the
  // last pause ended, shown until the next outer step.
  return { promptId, frames: [], total: null, planned: null, phase: PHASE.RUNNING, started: false,
    stopRequested: false, pauseRequested: false, pause: null, resumed: null };
}

export class NestedRuns {
  constructor({ createUrl, revokeUrl }) {
    this.createUrl = createUrl;
    this.revokeUrl = revokeUrl;
    this.runs = new Map();      // node execution id -> run
    this.pending = new Map();   // node execution id -> latest preview Blob not yet paired
  }

  run(nodeId) {
    return this.runs.get(String(nodeId)) ?? null;
  }

  /** The node starts executing in prompt `promptId`: its old strip and status are replaced. */
  begin(nodeId, promptId) {
    const key = String(nodeId);
    this.forget(key);
    this.runs.set(key, newRun(promptId));
  }

  /** A preview image for a node (b_preview_with_metadata). The pack sends one per outer step,
   *  just before that step's outer_step event, so the latest one is kept until that event.
   *  Nodes without a run are only watched when `mayRunNested` (a sampler input not traced). */
  preview(nodeId, promptId, blob, mayRunNested = false) {
    const run = this.run(nodeId);
    if (run ? run.promptId !== promptId || !ACTIVE.has(run.phase) : !mayRunNested) return;
    this.pending.set(String(nodeId), blob);
  }

  /** A progress update of the node: its sampler runs. True when that is news. The first one
   *  is the nested run's per-call bar, whose `max` is the run's planned model calls (the host's
   *  own bar, counting outer steps, first updates at the end of the first outer step). */
  samplerProgress(nodeId, promptId, max = null) {
    const run = this.run(nodeId);
    if (!run || run.promptId !== promptId || run.started || !ACTIVE.has(run.phase)) return false;
    run.started = true;
    if (run.planned == null && Number.isInteger(max) && max > 0) run.planned = max;
    return true;
  }

  /** A nested_diffusion.outer_step event; returns the new frame. `clipUrl` turns the event's
   *  clip path into the address the page loads (the host's /api prefix). */
  outerStep(detail, clipUrl = (path) => path) {
    const key = String(detail.node);
    const blob = this.pending.get(key);
    this.pending.delete(key);
    let run = this.runs.get(key);
    const last = run?.frames.at(-1);
    if (!run || run.promptId !== detail.prompt_id || (last && detail.step <= last.step)) {
      this.begin(key, detail.prompt_id); // e.g. SamplerCustom, seen first through this event
      run = this.runs.get(key);
    }
    const frame = {
      step: detail.step,
      total: detail.total,
      nfe: detail.nfe,
      sigma: detail.sigma,
      elapsed: detail.elapsed,
      url: blob ? this.createUrl(blob) : null,
      clip: clipOf(detail, clipUrl),
      clipNote: typeof detail.clip_note === "string" && detail.clip_note ? detail.clip_note : null,
    };
    run.frames.push(frame);
    run.started = true;
    run.resumed = null;
    run.total = detail.total;
    if (Number.isFinite(detail.planned)) run.planned = detail.planned;
    return frame;
  }

  /** Stop & keep was accepted by the server for this node's prompt (a paused run, too: the
   *  server then resumes it with reason "stopped"). */
  stopRequested(nodeId) {
    const run = this.run(nodeId);
    if (run && ACTIVE.has(run.phase)) {
      run.stopRequested = true;
      run.phase = PHASE.STOPPING;
      run.pause = null;
    }
  }

  /** Pause was accepted by the server: the run pauses at the end of its current outer step. */
  pauseRequested(nodeId) {
    const run = this.run(nodeId);
    if (run?.phase === PHASE.RUNNING) run.pauseRequested = true;
  }

  /** A nested_diffusion.paused event; returns the run's pause (null when it is not this run's).
   *  `viewUrl` turns a /view path into the address the page loads. */
  paused(detail, viewUrl = (path) => path) {
    const run = this.run(detail?.node);
    // A run already stopping ignores it: the server resumes it at once with reason "stopped".
    if (!run || run.promptId !== detail.prompt_id || run.phase !== PHASE.RUNNING) return null;
    if (Number.isFinite(detail.total)) run.total = detail.total;
    run.started = true;
    run.pauseRequested = false;
    run.resumed = null;
    run.phase = PHASE.PAUSED;
    run.pause = { step: detail.step, total: detail.total ?? run.total, batch: detail.batch,
      recordNode: detail.record_node ?? detail.node, timeoutS: detail.timeout_s,
      tiles: tileSources(detail, viewUrl), detail };
    return run.pause;
  }

  /** A nested_diffusion.resumed event: the run goes on (or ends, when stopped while paused). */
  resumed(detail) {
    const run = this.run(detail?.node);
    if (!run || run.promptId !== detail.prompt_id || !ACTIVE.has(run.phase)) return null;
    const pause = run.pause;
    run.pause = null;
    run.resumed = { reason: detail.reason, step: detail.step ?? pause?.step, total: pause?.total ?? run.total,
      applied: detail.applied ?? null, timeoutS: detail.timeout_s ?? pause?.timeoutS };
    if (detail.reason === "stopped") {
      run.stopRequested = true;
      run.phase = PHASE.STOPPING;
    } else if (run.phase === PHASE.PAUSED) {
      run.phase = PHASE.RUNNING;
    }
    return run.resumed;
  }

  /** The node has finished (another node executes, or the prompt succeeded). */
  finish(nodeId) {
    const run = this.run(nodeId);
    if (!run || !ACTIVE.has(run.phase)) return;
    const step = run.frames.at(-1)?.step ?? 0;
    // Short of the last step without an error means the run was stopped: by the button, by
    // another client's stop request, or by the server's own rules (time budget, chain stop).
    run.phase = run.total != null && step >= run.total ? PHASE.DONE : PHASE.STOPPED;
    run.pause = null;
    run.pauseRequested = false;
    this.pending.delete(String(nodeId));
  }

  /** Every node of `promptId` still running has finished: successfully, or not. */
  endPrompt(promptId, { failed }) {
    for (const [key, run] of this.runs) {
      if (run.promptId !== promptId || !ACTIVE.has(run.phase)) continue;
      if (failed) {
        run.phase = PHASE.CANCELLED;
        run.pause = null;
        this.pending.delete(key);
      } else {
        this.finish(key);
      }
    }
    // Previews kept for nodes that never turned out to run a nested sampler (a plain
    // SamplerCustom) are dropped with the prompt.
    for (const key of [...this.pending.keys()]) {
      if (!ACTIVE.has(this.runs.get(key)?.phase)) this.pending.delete(key);
    }
  }

  /** Runs of `promptId` that are active, other than `exceptNodeId` (finished by a new node). */
  activeIn(promptId, exceptNodeId) {
    const out = [];
    for (const [key, run] of this.runs) {
      if (run.promptId === promptId && ACTIVE.has(run.phase) && key !== String(exceptNodeId)) out.push(key);
    }
    return out;
  }

  /** The node was deleted (or its graph closed): release its images. */
  forget(nodeId) {
    const key = String(nodeId);
    const run = this.runs.get(key);
    for (const frame of run?.frames ?? []) if (frame.url) this.revokeUrl(frame.url);
    this.runs.delete(key);
    this.pending.delete(key);
  }

  forgetAll() {
    for (const key of [...this.runs.keys()]) this.forget(key);
    this.pending.clear();
  }
}

/** The /view path of an event's clip, with a query part that differs per prompt and step: the
 *  server may reuse a file name for a later run, and a cached clip would show the old one. */
export function clipPath(clip, promptId, step) {
  const query = new URLSearchParams({ filename: clip.filename, subfolder: clip.subfolder ?? "",
    type: clip.type ?? "temp", nd: `${promptId}.${step}` });
  return `/view?${query}`;
}

/** The frame's clip, or null for an image run (or a clip field this version cannot show). */
function clipOf(detail, clipUrl) {
  const clip = detail.clip;
  if (!clip || typeof clip.filename !== "string" || !clip.filename) return null;
  const frames = Number.isInteger(clip.frames) && clip.frames > 0 ? clip.frames : null;
  const fps = Number.isFinite(clip.fps) && clip.fps > 0 ? clip.fps : null;
  return { url: clipUrl(clipPath(clip, detail.prompt_id, detail.step)), frames, fps,
    width: clip.width ?? null, height: clip.height ?? null };
}

/** Stop & keep can be pressed only while the node's nested sampler runs (or waits paused) and no
 *  stop is pending. */
export function canStop(run) {
  return (run?.phase === PHASE.RUNNING || run?.phase === PHASE.PAUSED) && run.started;
}

/** Pause can be pressed while the nested sampler runs and no pause is already coming. */
export function canPause(run) {
  return run?.phase === PHASE.RUNNING && run.started && !run.pauseRequested;
}

/** The status line under the node's widgets. */
export function statusText(run) {
  if (!run) return "";
  const last = run.frames.at(-1);
  const k = last?.step ?? 0;
  const n = run.total ?? "?";
  // A video run names its clip's length right after the step: the line is cut at the panel's
  // width, and the time at its end is the first to go.
  const clipWords = clipStatusText(last?.clip, last?.clipNote);
  const clip = clipWords ? ` · ${clipWords}` : "";
  switch (run.phase) {
    case PHASE.RUNNING: {
      if (run.pauseRequested) return pausingText(last?.step ?? 0, run.total);
      if (run.resumed) return resumedText(run.resumed);
      if (!last) return "starting the first outer step…";
      const calls = run.planned ? `${last.nfe}/${run.planned}` : `${last.nfe}`;
      const time = Number.isFinite(last.elapsed) ? ` · ${last.elapsed.toFixed(1)} s` : "";
      return `outer step ${k}/${n}${clip} · ${calls} model calls${time}`;
    }
    case PHASE.PAUSED:
      return pausedText(run.pause?.step ?? k, run.pause?.total ?? run.total);
    case PHASE.STOPPING:
      return `stopping: keeping outer step ${k}/${n}…${clip}`;
    case PHASE.STOPPED:
      return `stopped at ${k}/${n}${clip}`;
    case PHASE.CANCELLED:
      return `cancelled at ${k}/${n}${clip}`;
    case PHASE.DONE:
      return `done ${k}/${n}${clip}`;
    default:
      return "";
  }
}

/** The planned-cost line. `cost` is what the node's widgets plan ({plan, outerRuns, inner,
 *  maxSeconds} for costText, or {text} where the widgets give no count). While a run is active
 *  and plans another number of calls than the widgets say (widgets set without their callbacks
 *  by a script, another extension or an API-format load; or the widgets changed after queueing),
 *  the line shows the run's own figure. */
export function costLine(cost, run) {
  const widgets = cost.plan ? costText(cost.plan, cost.outerRuns, cost.inner, cost.maxSeconds) : cost.text ?? "";
  const planned = run && ACTIVE.has(run.phase) ? run.planned : null;
  if (planned == null || planned === cost.plan?.calls) return widgets;
  const outer = run.total != null ? `${run.total} outer steps → ` : "";
  return `planned: ${outer}${planned} model calls (this run)`;
}

/** The label under one thumbnail, e.g. "3 · 60 calls". */
export function frameLabel(frame) {
  return `${frame.step} · ${frame.nfe} calls`;
}
