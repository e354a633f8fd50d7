// Shows "outer step i/N · NFE" on the node that runs a nested sampler, from the
// nested_diffusion.outer_step websocket event. The preview image itself needs no JS:
// ComfyUI's own progress hook delivers it to the same node.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EVENT = "nested_diffusion.outer_step";
const STOP_ROUTE = "/nested_diffusion/stop";
// Nodes that can run the nested sampler: ours, and the custom-sampling nodes that take it.
const SAMPLING_NODES = new Set([
  "NestedKSampler", "NestedKSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced",
]);

async function stopAndKeep() {
  // Ends the running nested sampler with its last finished outer-step image; the rest of
  // the graph (decode, save) then runs on that image.
  const response = await api.fetchApi(STOP_ROUTE, { method: "POST", body: "{}" });
  if (response.status === 409) console.info("Nested Diffusion: no nested sampler is running");
}

function statusText(detail) {
  const text = `outer step ${detail.step}/${detail.total} · ${detail.nfe} NFE · σ ${Number(detail.sigma).toFixed(3)}`;
  return detail.step < detail.total ? `${text} · right-click to stop and keep` : text;
}

function showStatus(node, text) {
  node.nestedDiffusionStatus = text;
  if (!node.nestedDiffusionDrawPatched) {
    // Per instance, so no other pack's node type is touched; the text is never serialized.
    const draw = node.onDrawForeground;
    node.onDrawForeground = function (ctx) {
      const result = draw?.apply(this, arguments);
      if (this.nestedDiffusionStatus && !this.flags?.collapsed) {
        ctx.save();
        ctx.font = "11px sans-serif";
        ctx.fillStyle = "#8fd";
        ctx.textAlign = "right";
        ctx.fillText(this.nestedDiffusionStatus, this.size[0] - 6, -6);
        ctx.restore();
      }
      return result;
    };
    node.nestedDiffusionDrawPatched = true;
  }
  app.graph.setDirtyCanvas(true, false);
}

function findNode(id) {
  // Ids of nodes inside subgraphs arrive as "outer:inner"; the last part is the node here.
  const local = String(id).split(":").pop();
  return app.graph?.getNodeById(Number(local)) ?? app.graph?.getNodeById(local);
}

app.registerExtension({
  name: "nested_diffusion.outer_step_status",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!SAMPLING_NODES.has(nodeData.name)) return;
    const menu = nodeType.prototype.getExtraMenuOptions;
    nodeType.prototype.getExtraMenuOptions = function (canvas, options) {
      const result = menu?.apply(this, arguments);
      options.push({ content: "Nested Diffusion: stop and keep current image", callback: stopAndKeep });
      return result;
    };
  },
  async setup() {
    api.addEventListener(EVENT, ({ detail }) => {
      const node = detail?.node != null ? findNode(detail.node) : null;
      if (node) showStatus(node, statusText(detail));
    });
    api.addEventListener("execution_start", () => {
      for (const node of app.graph?._nodes ?? []) {
        if (node.nestedDiffusionStatus) node.nestedDiffusionStatus = null;
      }
    });
  },
});
