"""Per-file summaries: what one file tells the rest of the project (small, JSON, cached by content)."""
