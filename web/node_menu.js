// The nested node's right-click entries (Stop & keep, Pause) and which menu mechanism adds them.
// Pure: nested_diffusion.js gives the node's facts and the two actions; run: node --test tests/web
import { canPause, canStop } from "./run_state.js";

export const STOP_LABEL = "Nested Diffusion: stop and keep current image";
export const PAUSE_LABEL = "Nested Diffusion: pause after this outer step";

/** The entries for a node: none unless it runs nested; each disabled while its button would be
 *  (canStop / canPause of the node's current run, null when it has none). */
export function nodeMenuItems({ nested, run, stop, pause }) {
  if (!nested) return [];
  return [
    { content: STOP_LABEL, disabled: !canStop(run), callback: stop },
    { content: PAUSE_LABEL, disabled: !canPause(run), callback: pause },
  ];
}

/** Whether the frontend asks extensions for node menu entries (ComfyExtension.getNodeMenuItems,
 *  the context-menu API that replaces patching getExtraMenuOptions). Such frontends have
 *  ComfyApp.collectNodeMenuItems, the method that calls that hook of every extension and that
 *  their node menu (LGraphCanvas.getNodeMenuOptions, used by the canvas and the Vue node menus)
 *  appends; 1.27.10 has neither. Detected by that method rather than by the version number:
 *  it is the very thing that makes the hook be called, and it holds for builds whose version
 *  string says nothing (development builds, forks). */
export function hasNodeMenuHook(app) {
  return typeof app?.collectNodeMenuItems === "function";
}
