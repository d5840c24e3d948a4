"""`freezelint server`: a Language Server Protocol server over stdio (needs `freezelint[server]`).

Diagnostics as the editor types, fixes and `# noqa` as code actions, for Python
files and Jupyter notebooks, with the engine, settings and project model of
`freezelint check`. Never imports torch.
"""

from __future__ import annotations


def missing_dependency() -> str:
    """Why the server cannot start (a one-line message), or "" when it can."""
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError as exc:
        name = getattr(exc, "name", None) or str(exc)
        return f"`freezelint server` needs pygls and lsprotocol ({name} not importable); install `freezelint[server]`"
    return ""


def main() -> int:
    from freezelint.server.lsp import serve

    return serve()
