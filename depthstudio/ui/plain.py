"""User data for display: names, notes, URLs and error texts are written by strangers.

Qt renders a label's text as HTML when it looks like HTML, and a bidi override (U+202E) reverses everything drawn
after it. Every label that shows user data is set to plain text, and the text itself goes through ``display``,
which replaces control and bidi-formatting characters with visible escapes; the stored value is never changed.
"""

from __future__ import annotations

import html
import unicodedata

# Explicit bidi embeddings/overrides/isolates and marks: they change the order of the text drawn after them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def display(value: object, *, newlines: bool = False) -> str:
    """``value`` as a string safe to draw: controls and bidi formatting shown as ``<U+XXXX>``, never obeyed."""
    out = []
    for ch in "" if value is None else str(value):
        if newlines and ch == "\n":
            out.append(ch)
        elif ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            out.append(" " if ch in "\t\r\n" else f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    return "".join(out)


def tooltip_html(text: str) -> str:
    """A tooltip Qt cannot mistake for markup: Qt sniffs tooltips for HTML, so give it escaped HTML on purpose."""
    return "<qt>" + html.escape(display(text, newlines=True)).replace("\n", "<br>") + "</qt>"
