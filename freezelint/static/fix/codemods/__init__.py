"""Fixes that insert or move statements (FRZ101, FRZ106, FRZ107, FRZ201, FRZ203).

A rule asks for one with a `requests.Codemod` (plain `ast` nodes, no libcst); the engine
turns the requests of a file into `Fix` text edits with `build.build_fixes`, which parses
the file with libcst, and only in files that have such a request. The edits are the
changed lines of the transformed module, so every other line, comment and blank line
stays byte for byte, and `--diff`, `--show-fixes`, code actions and notebooks see an
ordinary `Fix`.
"""
