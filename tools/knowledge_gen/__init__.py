"""The generator of libraries.json (scripts/gen_knowledge.py drives it; see ../README.md).

sources -> summarize/functions (one file, `ast`) -> resolve (names across files) ->
evaluate/class_facts (what values and classes are) -> classes/callables/seeds (the sections)
-> build (the compact layout). The loader in ../__init__.py never imports this package.
"""
