"""Per-scope timelines of freeze-relevant events, built on the semantic model."""
