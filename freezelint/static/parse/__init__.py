"""Parsing and the small `ast` questions every later stage asks."""
