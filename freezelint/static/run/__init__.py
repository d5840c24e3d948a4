"""`freezelint check` as a pipeline: discover, summarise, index, lint, cache, suppress, fix."""
