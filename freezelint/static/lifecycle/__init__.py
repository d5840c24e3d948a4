"""Framework lifecycles: the hooks a trainer calls, in order, as one timeline."""
