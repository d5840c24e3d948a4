"""Applying fixes: text edits and statement-level codemods, each proved by a re-parse."""
