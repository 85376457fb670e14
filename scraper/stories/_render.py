"""The public views of a StorySplit: a stable JSON shape and a human-readable summary."""

from __future__ import annotations

from typing import Any

from scraper.models import StorySplit

_FIRST_WORDS = 12


def render_split_json(source: str, split: StorySplit) -> dict[str, Any]:
    """`{"source", "mixed", "stories": [{"id", "title", "paragraphs"}], "dropped": [...]}`."""
    return {
        "source": source,
        "mixed": split.mixed,
        "stories": [
            {"id": s.id, "title": s.title, "paragraphs": list(s.paragraphs)}
            for s in split.stories
        ],
        "dropped": [{"text": d.text, "reason": d.reason} for d in split.dropped],
    }


def _clip(text: str, words: int = _FIRST_WORDS) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def render_split_text(source: str, split: StorySplit) -> str:
    """Stories with titles, paragraph counts and first words; teasers; drops and why."""
    n = len(split.stories)
    lines = [f"{source}: {n} {'story' if n == 1 else 'stories'}"
             + (" (mixed page)" if split.mixed else "")]
    for k, s in enumerate(split.stories, 1):
        lines.append(f"  [{k}] {s.title or '(untitled)'}")
        lines.append(f"      id {s.id}, {len(s.paragraphs)} paragraphs"
                     + (f", {s.url}" if s.url else ""))
        if s.paragraphs:
            lines.append(f"      {_clip(s.paragraphs[0])}")
    if split.teasers:
        lines.append(f"  teasers ({len(split.teasers)}):")
        lines += [f"    - {t}" for t in split.teasers]
    if split.dropped:
        lines.append(f"  dropped ({len(split.dropped)}):")
        lines += [f"    - {_clip(d.text, 8)!r}: {d.reason}" for d in split.dropped]
    return "\n".join(lines) + "\n"
