// The DOM of the panel's steering parts: the steer area shown while a run is paused (one tile
// per batch row to pick, the prompt fields, cfg, Continue) and the replay line with Clear. The
// rules (prefill, what Continue sends) are steer_state.js's; nested_diffusion.js wires these
// to the events, the routes and the node's size.
import { steerBody, togglePick } from "./steer_state.js";

export const TILE = 56;              // px: a tile's image side
export const TILES_SIDE_BY_SIDE = 6; // the node widens while paused to show this many at most
export const STEER_HEIGHT = 160;     // px the steer area adds to the panel while paused
export const REPLAY_HEIGHT = 22;     // px the replay line adds while the node holds a record

export const STEER_CSS = `
.nd-steer { display: none; flex-direction: column; gap: 3px; border-top: 1px solid #456; padding-top: 3px;
  flex: none; height: ${STEER_HEIGHT - 4}px; box-sizing: border-box; }
.nd-steer.nd-open { display: flex; }
.nd-steer-hint { color: #9ab; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.nd-tiles { display: flex; gap: 4px; overflow-x: auto; overflow-y: hidden; flex: none; }
.nd-tiles figure { position: relative; margin: 0; flex: none; width: ${TILE}px; cursor: pointer; text-align: center; }
.nd-tiles img { width: ${TILE}px; height: ${TILE}px; object-fit: contain; background: #222; display: block;
  box-sizing: border-box; border: 2px solid transparent; }
.nd-tiles figure.nd-picked img { border-color: #fc4; }
.nd-tiles figure.nd-clip img { outline: 1px solid #5a7; outline-offset: -1px; }
.nd-tiles figcaption { font-size: 10px; white-space: nowrap; }
.nd-tiles .nd-order { position: absolute; top: 2px; right: 2px; min-width: 14px; border-radius: 7px;
  background: #fc4; color: #000; font: bold 10px sans-serif; display: none; }
.nd-tiles figure.nd-picked .nd-order { display: block; }
.nd-steer input[type=text] { font: 11px sans-serif; min-width: 0; flex: 1; box-sizing: border-box;
  background: #222; color: #dde; border: 1px solid #456; padding: 1px 4px; }
.nd-steer input[type=number] { font: 11px sans-serif; width: 56px; background: #222; color: #dde;
  border: 1px solid #456; padding: 1px 2px; }
.nd-steer input:disabled { opacity: 0.5; }
.nd-steer label { flex: none; color: #9ab; }
.nd-steer-error { color: #f88; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; min-width: 0; }
.nd-replay { display: none; }
.nd-replay.nd-open { display: flex; }
.nd-replay span { color: #fc4; }`;

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

function labeledRow(label, input) {
  const row = element("div", "nd-row");
  row.append(element("label", null, label), input);
  return row;
}

/** The steer area. `onContinue(body)` sends the steer request and resolves to an error text
 *  (or null once accepted); the area stays until the resumed event hides it. */
export function createSteerArea({ onContinue }) {
  const root = element("div", "nd-steer");
  const hint = element("div", "nd-steer-hint", "click rows to go on from (none: all rows go on)");
  hint.title = "Every batch row takes the state of the picked rows (cycling through them in click order); "
    + "edit the prompt or cfg if you like, then Continue. Only what you change is sent.";
  const tiles = element("div", "nd-tiles");
  const prompt = element("input");
  const negative = element("input");
  prompt.type = negative.type = "text";
  prompt.name = "nd-prompt";
  negative.name = "nd-negative";
  const cfg = element("input");
  cfg.type = "number";
  cfg.name = "nd-cfg";
  cfg.step = "0.1";
  cfg.min = "0";
  cfg.max = "100";
  const cfgLabel = element("label", null, "cfg");
  const button = element("button", null, "Continue");
  button.title = "Go on from here with the picked rows and the edits (only what you changed is sent)";
  const error = element("span", "nd-steer-error");
  const last = element("div", "nd-row");
  last.append(cfgLabel, cfg, button, error);
  root.append(hint, tiles, labeledRow("prompt", prompt), labeledRow("negative", negative), last);
  // The canvas must not take the keys typed into the fields (a Delete would remove nodes).
  for (const input of [prompt, negative, cfg]) input.addEventListener("keydown", (e) => e.stopPropagation());

  let state = null;  // {promptId, prefill, picks, figures}

  function drawPicks() {
    state.figures.forEach((figure, index) => {
      const order = state.picks.indexOf(index);
      figure.classList.toggle("nd-picked", order >= 0);
      figure.querySelector(".nd-order").textContent = order >= 0 ? String(order + 1) : "";
    });
  }

  function show(promptId, pause, prefill) {
    const figures = pause.tiles.map((source) => {
      const figure = element("figure");
      const img = element("img");
      img.alt = `row ${source.index + 1}`;
      if (source.clip) {
        figure.classList.add("nd-clip");  // the strip's mark of a clip: a thin green edge
        img.addEventListener("error", () => { if (source.still && img.src !== source.still) img.src = source.still; },
          { once: true });
      }
      if (source.url) img.src = source.url;
      figure.title = `row ${source.index + 1}: click to pick (all rows go on from the picked ones)`;
      figure.append(img, element("span", "nd-order"), element("figcaption", null, `#${source.index + 1}`));
      figure.addEventListener("click", () => {
        state.picks = togglePick(state.picks, source.index);
        drawPicks();
      });
      return figure;
    });
    tiles.replaceChildren(...figures);
    state = { promptId, prefill, picks: [], figures };
    for (const [input, value] of [[prompt, prefill.prompt], [negative, prefill.negative]]) {
      input.value = value;
      input.disabled = !prefill.canEditPrompt;
      input.title = input.placeholder = prefill.canEditPrompt ? "" : prefill.promptNote;
    }
    const hasCfg = prefill.cfg != null;
    cfg.value = hasCfg ? String(prefill.cfg) : "";
    cfg.disabled = !hasCfg;
    cfg.style.display = cfgLabel.style.display = hasCfg ? "" : "none";
    error.textContent = "";
    button.disabled = false;
    drawPicks();
    root.classList.add("nd-open");
  }

  function hide() {
    state = null;
    tiles.replaceChildren();
    error.textContent = "";
    root.classList.remove("nd-open");
  }

  button.addEventListener("click", async () => {
    if (!state) return;
    const { body, error: refused } = steerBody(state.promptId, state.prefill,
      { picks: state.picks, prompt: prompt.value, negative: negative.value, cfg: cfg.value });
    error.textContent = refused ?? "";
    if (refused) return;
    button.disabled = true;
    const failed = await onContinue(body);
    if (failed && state) {
      error.textContent = failed;
      error.title = failed;
      button.disabled = false;
    }
  });

  return {
    root, show, hide,
    isOpen: () => root.classList.contains("nd-open"),
    /** The width that shows the first few tiles side by side (more scroll). */
    neededWidth: () => Math.min(state?.figures.length ?? 0, TILES_SIDE_BY_SIDE) * (TILE + 4),
    elements: { tiles, prompt, negative, cfg, button, error },
  };
}

/** The replay line: "replay set: N interventions" and Clear, shown when the node holds a record. */
export function createReplayRow({ onClear }) {
  const root = element("div", "nd-row nd-replay");
  const text = element("span");
  text.title = "The next run replays this steering record without pausing (same seed, same picks and prompts)";
  const clear = element("button", null, "Clear");
  clear.title = "Empty the steering record: the next run pauses (or runs) as set, without replaying";
  clear.addEventListener("click", () => onClear());
  root.append(text, clear);
  return {
    root, clear,
    set(line) {
      text.textContent = line;
      root.classList.toggle("nd-open", Boolean(line));
    },
    isOpen: () => root.classList.contains("nd-open"),
  };
}
