"""Text as it leaves the extractor: safe to print, normalised, measured in a script-fair way.

- Control characters go: C0 (except tab and newline, which the block cutter turns into
  spaces anyway), DEL, C1, and whole terminal escape sequences (CSI `ESC [ ... m`, OSC
  `ESC ] ... BEL` window titles, two-byte `ESC X`), so a page cannot drive the terminal of
  whoever reads its text.
- Soft hyphens (U+00AD) are hints for line breaking, not letters: removed.
- Unicode NFC, so that "é" typed as one code point or as e + accent compares equal.
- `weighted_len`: a CJK character carries about as much as a short word, so length
  thresholds written for alphabetic text count each one three times.
"""

from __future__ import annotations

import re
import unicodedata

# An escape sequence first (so its parameters go with it), then any lone control character.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI: ESC [ params intermediates final
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC ] ... BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC: ESC P ... ST
    r"|\x1b[ -~]?"  # two-byte sequences, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # the 8-bit CSI
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad]"
)
# Han, Hiragana, Katakana, Hangul (and their punctuation and full-width forms).
_CJK = re.compile(
    r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)
CJK_WEIGHT = 3


_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad]")


def clean_text(text: str) -> str:
    """`text` without control characters, escape sequences and soft hyphens, in NFC."""
    if _ANY_CONTROL.search(text) is not None:
        text = _CONTROL.sub("", text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def weighted_len(text: str) -> int:
    """The length of `text`, each CJK character counted CJK_WEIGHT times."""
    if text.isascii():
        return len(text)
    return len(text) + (CJK_WEIGHT - 1) * len(_CJK.findall(text))
