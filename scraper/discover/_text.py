"""Titles as plain one-line text."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

_SPACE = re.compile(r"\s+")
# C0/C1 controls other than white space: never title text, and unsafe in a terminal.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_TITLE_CHARS = 300


def clean_title(value: object) -> str | None:
    """One line of text: markup dropped, white space collapsed, controls removed."""
    if not isinstance(value, str):
        return None
    text = value
    if "<" in text:
        body = LexborHTMLParser(f"<body>{text}</body>").body
        text = body.text(separator=" ") if body is not None else text
    text = _SPACE.sub(" ", _CONTROLS.sub("", text)).strip()
    if len(text) > MAX_TITLE_CHARS:
        text = text[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return text or None
