"""Compare two versions of a text, block by block: ``diff_texts(old, new) -> TextDiff``.

Pure and synchronous. A block is one line of the diff; blocks are compared after
collapsing whitespace, so a change of spacing alone is never a change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from scraper.models import TextDiff

__all__ = ["diff_texts", "normalise_block", "strip_ignored"]

_SPACE = re.compile(r"\s+")


def normalise_block(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def strip_ignored(blocks: Sequence[str], patterns: Sequence[str]) -> tuple[str, ...]:
    """Remove what the ``ignore`` regexes match (timestamps, counters) before diffing."""
    compiled = [re.compile(p) for p in patterns]
    out = []
    for block in blocks:
        for pattern in compiled:
            block = pattern.sub("", block)
        block = normalise_block(block)
        if block:
            out.append(block)
    return tuple(out)


def diff_texts(
    old: Sequence[str], new: Sequence[str], *, old_label: str = "before",
    new_label: str = "after", context: int = 1,
) -> TextDiff:
    """Block-level diff. ``changed`` counts blocks replaced one for one."""
    a = [b for b in (normalise_block(x) for x in old) if b]
    b = [x for x in (normalise_block(y) for y in new) if x]
    added = removed = changed = 0
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            pairs = min(i2 - i1, j2 - j1)
            changed += pairs
            removed += (i2 - i1) - pairs
            added += (j2 - j1) - pairs
        elif tag == "delete":
            removed += i2 - i1
        elif tag == "insert":
            added += j2 - j1
    if not (added or removed or changed):
        return TextDiff(unified="", added=0, removed=0, changed=0)
    unified = "\n".join(
        difflib.unified_diff(a, b, fromfile=old_label, tofile=new_label, n=context,
                             lineterm="")
    )
    return TextDiff(unified=unified, added=added, removed=removed, changed=changed)
