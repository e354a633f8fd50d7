// The steering panel's rules (docs/steering.md is the contract): what a pause shows (tiles,
// prefilled fields), what Continue sends (only what the user changed), the status after a
// resume, the replay line of a saved record, and which widgets make a replay reproducible.
// Pure: nested_diffusion.js feeds it the events' details and the graph's nodes.
import { sourceNode, typeOf, widgetOf } from "./graph_lookup.js";

export const CFG_MIN = 0;
export const CFG_MAX = 100;

/** The steering record of a widget value or an event ("" or unreadable: null). */
export function parseRecord(text) {
  if (typeof text !== "string" || !text.trim()) return null;
  try {
    const record = JSON.parse(text);
    return record && typeof record === "object" && Array.isArray(record.steps) ? record : null;
  } catch {
    return null;
  }
}

/** The panel's replay line for the `steering` widget's value; "" when there is no record. */
export function replayText(text) {
  if (typeof text !== "string" || !text.trim()) return "";
  const record = parseRecord(text);
  if (!record) return "replay set: unreadable record (the run will refuse it)";
  const n = record.steps.length;
  return `replay set: ${n} intervention${n === 1 ? "" : "s"}`;
}

/** The latest value of `key` ("prompt", "negative", "cfg") steered so far in a record. */
export function lastSteered(record, key) {
  let value;
  for (const step of record?.steps ?? []) if (step && step[key] !== undefined) value = step[key];
  return value;
}

/** The /view paths of a pause's tiles, one per batch row: the row's clip for a video run
 *  (its looping <img>), with the still as fallback. The query differs per prompt and step, as
 *  the server may reuse a file name. */
export function tileSources(detail, viewUrl = (path) => path) {
  const tiles = Array.isArray(detail?.tiles) ? detail.tiles : [];
  const clips = Array.isArray(detail?.clips) ? detail.clips : [];
  const path = (file) => {
    const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder ?? "",
      type: file.type ?? "temp", nd: `${detail.prompt_id}.${detail.step}` });
    return viewUrl(`/view?${query}`);
  };
  return tiles.map((tile, index) => {
    const still = tile && typeof tile.filename === "string" && tile.filename ? path(tile) : null;
    const clip = clips[index];
    const clipUrl = clip && typeof clip.filename === "string" && clip.filename ? path(clip) : null;
    return { index, url: clipUrl ?? still, still, clip: clipUrl != null };
  });
}

/** Clicking a tile: picks it (at the end of the order) or unpicks it. */
export function togglePick(picks, index) {
  return picks.includes(index) ? picks.filter((i) => i !== index) : [...picks, index];
}

/** What a pause's form starts with. `widgetText`: the `text` widgets of the CLIPTextEncode
 *  nodes feeding positive and negative (null when not such a node); what was steered earlier in
 *  this run wins, since that is the conditioning now in use. */
export function steerPrefill(detail, widgetText = {}) {
  const record = parseRecord(detail?.steering);
  const text = (key) => lastSteered(record, key) ?? widgetText[key] ?? "";
  const canEdit = detail?.can_edit_prompt === true;
  return {
    canEditPrompt: canEdit,
    promptNote: canEdit ? "" : String(detail?.prompt_note || "editing the prompt is off for this run"),
    prompt: canEdit ? text("prompt") : "",
    negative: canEdit ? text("negative") : "",
    cfg: Number.isFinite(detail?.cfg) ? detail.cfg : null,
  };
}

/** The body of POST /nested_diffusion/steer: only what differs from the prefill. `form`: the
 *  picks in click order and the fields' current text. Returns {body} or {error}. */
export function steerBody(promptId, prefill, form) {
  const body = { prompt_id: promptId };
  if (form.picks?.length) body.pick = [...form.picks];
  if (prefill.canEditPrompt) {
    if (form.prompt != null && form.prompt !== prefill.prompt) body.prompt = form.prompt;
    if (form.negative != null && form.negative !== prefill.negative) body.negative = form.negative;
  }
  if (prefill.cfg != null && form.cfg != null && String(form.cfg).trim() !== "") {
    const cfg = Number(form.cfg);
    if (!Number.isFinite(cfg) || cfg < CFG_MIN || cfg > CFG_MAX) {
      return { error: `cfg must be a number from ${CFG_MIN} to ${CFG_MAX}` };
    }
    if (cfg !== prefill.cfg) body.cfg = cfg;
  }
  return { body };
}

/** The status line right after a pause is requested and before it takes effect. */
export function pausingText(step, total) {
  return step ? `will pause after the current outer step (${step}/${total ?? "?"} done)`
    : "will pause after the first outer step";
}

export function pausedText(step, total) {
  return `paused after outer step ${step}/${total ?? "?"}`;
}

/** Minutes as the node's widget shows them (0.1 to 1440). */
function minutes(seconds) {
  return Number((seconds / 60).toFixed(2));
}

function appliedText(applied) {
  const parts = [];
  if (applied?.pick?.length) parts.push(`picked ${applied.pick.map((i) => i + 1).join(", ")}`);
  if (applied?.prompt !== undefined) parts.push("new prompt");
  if (applied?.negative !== undefined) parts.push("new negative");
  if (applied?.cfg !== undefined) parts.push(`cfg ${applied.cfg}`);
  return parts.join(", ");
}

/** Why a paused run goes on (the resumed event's reason), until its next outer step. */
export function resumedText(resumed) {
  const at = `${resumed.step}/${resumed.total ?? "?"}`;
  switch (resumed.reason) {
    case "steered": {
      const what = appliedText(resumed.applied);
      return `steered after outer step ${at}${what ? `: ${what}` : ""}; continuing…`;
    }
    case "timeout":
      return `pause timed out after ${minutes(resumed.timeoutS ?? 0)} min; continued unchanged`;
    case "stopped":
      return `stopped while paused after outer step ${at}`;
    default:
      return `continued unchanged after outer step ${at}…`;
  }
}

/** The node holding the seed a replay needs, around the panel's node: NestedKSampler's `seed`,
 *  NestedKSamplerAdvanced's and SamplerCustom's `noise_seed`, or that of the RandomNoise feeding
 *  SamplerCustomAdvanced's `noise`. */
function seedOwner(node) {
  switch (typeOf(node)) {
    case "NestedKSampler":
      return { owner: node, name: "seed" };
    case "NestedKSamplerAdvanced":
    case "SamplerCustom":
      return { owner: node, name: "noise_seed" };
    case "SamplerCustomAdvanced": {
      const noise = sourceNode(node, "noise");
      return typeOf(noise) === "RandomNoise" ? { owner: noise, name: "noise_seed" } : null;
    }
    default:
      return null;
  }
}

/** The seed widget and its "control after generate" companion (linked to it in both
 *  frontends, and named); null when the noise has no seed widget (e.g. DisableNoise). */
export function seedWidgets(node) {
  const found = seedOwner(node);
  const seed = widgetOf(found?.owner, found?.name);
  if (!seed) return null;
  const control = seed.linkedWidgets?.find((w) => w.name === "control_after_generate")
    ?? found.owner.widgets.find((w) => w.name === "control_after_generate" && w !== seed) ?? null;
  return { owner: found.owner, seed, control };
}
