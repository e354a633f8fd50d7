// Reading a LiteGraph graph the way both frontends' nodes allow: the node's class, the node that
// feeds one of its inputs (through Reroutes), a widget by name. Pure (only the node objects
// given), so the steering panel's graph rules are tested with plain objects.

export const typeOf = (node) => node?.comfyClass ?? node?.type;  // type is set only after nodeCreated

/** The node feeding `inputName` of `node`, past any Reroute nodes; null when unconnected. */
export function sourceNode(node, inputName) {
  const slot = node?.inputs?.findIndex((input) => input.name === inputName) ?? -1;
  let source = slot >= 0 ? node.getInputNode(slot) : null;
  for (let hops = 0; typeOf(source) === "Reroute" && hops < 32; hops++) source = source.getInputNode(0);
  return source ?? null;
}

export function widgetOf(node, name) {
  return node?.widgets?.find((w) => w.name === name) ?? null;
}

export function widgetValue(node, name) {
  return widgetOf(node, name)?.value;
}
