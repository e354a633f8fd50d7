"""What each node accepts: its inputs, tooltips, checks and outputs (one module per node, plus
the checks they share). Class names, input names, widget order and combo strings are workflow
identities: never rename or reorder them."""
