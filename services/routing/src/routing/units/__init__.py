"""Units of the org tree, read over HTTP."""
