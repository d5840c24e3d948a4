"""Reading source files faithfully: encoding, BOM, and line endings survive a round trip."""

from __future__ import annotations

import codecs
import io
import tokenize
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Sequence

if TYPE_CHECKING:  # typing only
    from freezelint.findings import Finding


class SourceError(Exception):
    """A file that cannot be read or decoded; the message is one line for the user."""

    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.line = line
        self.col = col


@dataclass
class Source:
    text: str
    encoding: str = "utf-8"
    bom: bool = False
    raw: bytes = b""
    # A notebook: `text` is its Python cells joined, and this maps it back to cells and JSON.
    cells: Optional[object] = None  # a notebook.Notebook (not imported: notebook.py builds on this module)

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return (codecs.BOM_UTF8 + data) if self.bom else data

    def render(self, new_text: str) -> bytes:
        """The file's bytes with `new_text` in place of `text`.

        Raises SourceError when they would not read back as exactly `new_text`.
        """
        if self.cells is not None:
            return self.cells.render(new_text)
        try:
            data = self.encode(new_text)
            ok = decode(data).text == new_text
        except (UnicodeError, SourceError):
            ok = False
        if not ok:
            raise SourceError(f"the fixed text cannot be written back as {self.encoding}")
        return data

    def locate(self, findings: Sequence["Finding"]) -> List["Finding"]:
        """Findings placed in the file: for a notebook, in its cells (line/col of `text` otherwise)."""
        return self.cells.locate(findings) if self.cells is not None else list(findings)


def decode(raw: bytes) -> Source:
    """Decode Python source as the interpreter would (PEP 263 cookie, UTF-8 BOM)."""
    if b"\x00" in raw:
        pos = raw.index(b"\x00")
        line = raw.count(b"\n", 0, pos) + 1
        raise SourceError("source contains a NUL byte", line=line)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        if "invalid or missing encoding" not in str(exc):
            if raw.startswith(codecs.BOM_UTF8) and "encoding problem" in str(exc):
                raise SourceError("UTF-8 BOM conflicts with the file's coding cookie") from None
            raise SourceError(f"cannot determine encoding: {exc}") from None
        encoding = "utf-8"  # no usable cookie: decoding as UTF-8 below names the bad byte
    bom = encoding == "utf-8-sig"
    body = raw[len(codecs.BOM_UTF8):] if bom else raw
    codec = "utf-8" if bom else encoding
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            f"not valid {codec.upper() if codec.startswith('utf') else codec}: "
            f"byte 0x{body[exc.start]:02x} cannot be decoded (declare the encoding with a `# -*- coding: ... -*-` line or re-save as UTF-8)",
            line=line,
        ) from None
    except LookupError:
        raise SourceError(f"unknown source encoding {codec!r}") from None
    return Source(text=text, encoding=codec, bom=bom, raw=raw)
