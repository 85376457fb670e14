"""A watch's stored history, and the difference between any two of its snapshots.

``load_history`` and ``load_comparison`` read the store (async, like every store call);
``word_diff`` and the rest are plain functions. Snapshots are numbered as ``scrape
history`` lists them: 1 is the newest, 2 the one before, and so on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import click

from scraper.diff import normalise_block
from scraper.store import FetchRow, SnapshotInfo, Store, StoryRecord

__all__ = [
    "Comparison",
    "History",
    "load_comparison",
    "load_history",
    "story_lines",
    "word_diff",
]


@dataclass(frozen=True, slots=True)
class History:
    watch: str
    url: str
    snapshots: tuple[SnapshotInfo, ...]  # newest first: number n is snapshots[n - 1]
    fetches: tuple[FetchRow, ...]  # newest first


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two versions of a page (its blocks) or of one story (headline and paragraphs)."""

    old_label: str
    new_label: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    note: str | None = None  # e.g. "the story is not in snapshot 3"


async def _watch_id(store: Store, watch: str) -> tuple[int, str]:
    """The watch's id and URL; LookupError naming the watches there are."""
    statuses = await store.statuses()
    for status in statuses:
        if status.name == watch:
            watch_id = await store.watch_id(watch)
            assert watch_id is not None
            return watch_id, status.url
    known = ", ".join(s.name for s in statuses) or "(none yet)"
    raise LookupError(f"no watch named {watch!r} in {store.path}; known: {known}")


async def load_history(store: Store, watch: str, *, fetches: int = 10) -> History:
    watch_id, url = await _watch_id(store, watch)
    snapshots = await store.snapshots(watch_id)
    rows = await store.fetches(watch_id, limit=fetches)
    return History(watch, url, tuple(snapshots), tuple(rows))


def story_lines(story: StoryRecord) -> tuple[str, ...]:
    # As the pipeline compares stories: the headline is the first line.
    head = (f"# {story.title}",) if story.title else ()
    return head + tuple(story.paragraphs)


def _label(number: int, snapshot: SnapshotInfo) -> str:
    return f"#{number} {snapshot.taken_at}"


def _pick(snapshots: Sequence[SnapshotInfo], number: int, watch: str) -> SnapshotInfo:
    if not 1 <= number <= len(snapshots):
        raise LookupError(f"{watch!r} has snapshots 1 to {len(snapshots)} "
                          f"(1 is the newest), not {number}")
    return snapshots[number - 1]


async def load_comparison(
    store: Store, watch: str, *, story: str | None = None, old: int | None = None,
    new: int | None = None,
) -> Comparison:
    """The texts to compare: blocks of two snapshots, or one story's lines in them.

    Defaults: the last two snapshots; with ``story``, the story's last change (the
    newest snapshot holding it against the newest older one where its text differs).
    """
    watch_id, _ = await _watch_id(store, watch)
    snapshots = await store.snapshots(watch_id)
    if not snapshots:
        raise LookupError(f"{watch!r} has no snapshots yet")
    if story is None:
        new_n = new or 1
        old_n = old or min(new_n + 1, len(snapshots))
        a, b = _pick(snapshots, old_n, watch), _pick(snapshots, new_n, watch)
        old_blocks = [str(x["text"]) for x in await store.blocks(a)]
        new_blocks = [str(x["text"]) for x in await store.blocks(b)]
        note = None
        if len(snapshots) == 1:
            note = "only one snapshot: nothing to compare it with"
        elif old_n == new_n:
            note = (f"snapshot {new_n} against itself" if old else
                    f"snapshot {new_n} is the oldest kept: nothing older to compare it with")
        return Comparison(_label(old_n, a), _label(new_n, b), tuple(old_blocks),
                          tuple(new_blocks), note)
    return await _story_comparison(store, watch, snapshots, story, old, new)


async def _story_comparison(
    store: Store, watch: str, snapshots: Sequence[SnapshotInfo], story: str,
    old: int | None, new: int | None,
) -> Comparison:
    versions: list[tuple[str, ...] | None] = []  # per snapshot, newest first
    ids: set[str] = set()
    for snapshot in snapshots:
        found = [s for s in await store.snapshot_stories(snapshot.id)
                 if s.story_id.startswith(story)]
        ids.update(s.story_id for s in found)
        versions.append(story_lines(found[0]) if found else None)
    if not ids:
        raise LookupError(f"no story {story!r} in the {len(snapshots)} snapshots of {watch!r}")
    if len(ids) > 1:
        raise LookupError(f"{story!r} is the start of several story ids: "
                          f"{', '.join(sorted(ids))}")
    numbers = [n for n, v in enumerate(versions, start=1) if v is not None]
    note = None
    if new is None:
        new = numbers[0] if old is None else 1
    if old is None:
        base = versions[new - 1] if 1 <= new <= len(versions) else None
        older = [n for n in numbers if n > new]
        changed = [n for n in older if versions[n - 1] != base]
        old = changed[0] if changed else (older[-1] if older else new)
        if not changed:
            note = f"the story has not changed in {len(older) + 1} snapshots"
    a, b = _pick(snapshots, old, watch), _pick(snapshots, new, watch)
    missing = [n for n in (old, new) if versions[n - 1] is None]
    if missing:
        note = f"the story is not in snapshot {', '.join(map(str, missing))}"
    return Comparison(_label(old, a), _label(new, b), versions[old - 1] or (),
                      versions[new - 1] or (), note)


# --- word-level diff ------------------------------------------------------------------

# A word with the spaces after it: matching bare spaces would cut one changed phrase
# into many small ones.
_TOKEN = re.compile(r"\S+\s*")


def _mark(text: str, left: str, right: str, colour: str) -> str:
    core = text.rstrip()
    return click.style(left + core + right, fg=colour) + text[len(core):]


def _words(old: str, new: str) -> str:
    """One changed block: [-removed words-]{+added words+}, coloured on a terminal."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.append("".join(a[i1:i2]))
            continue
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if removed and added:  # a replacement reads as one: [-six-]{+eight+} weeks
            out.append(_mark(removed.rstrip(), "[-", "-]", "red"))
            out.append(_mark(added, "{+", "+}", "green"))
        elif removed:
            out.append(_mark(removed, "[-", "-]", "red"))
        else:
            out.append(_mark(added, "{+", "+}", "green"))
    return "".join(out)


def word_diff(old: Sequence[str], new: Sequence[str], *, context: int = 1) -> list[str]:
    """Blocks aligned as in the unified diff; a block replaced one for one is shown once
    with its changed words marked (``~``), others whole (``-`` removed, ``+`` added)."""
    # Compared as diff_texts compares: whitespace collapsed, empty blocks dropped.
    old = [b for b in map(normalise_block, old) if b]
    new = [b for b in map(normalise_block, new) if b]
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    lines: list[str] = []
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        lines.append(click.style(
            f"@@ blocks {first[1] + 1}-{last[2]} -> {first[3] + 1}-{last[4]} @@", fg="cyan"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [" " + text for text in old[i1:i2]]
                continue
            pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for k in range(pairs):
                lines.append(click.style("~", fg="yellow") + _words(old[i1 + k], new[j1 + k]))
            lines += [click.style("-" + t, fg="red") for t in old[i1 + pairs:i2]]
            lines += [click.style("+" + t, fg="green") for t in new[j1 + pairs:j2]]
    return lines
