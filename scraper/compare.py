"""What a new snapshot announces: ``compare_snapshot(...) -> Comparison``.

Pure and synchronous (the story-level diff stage): it takes the previous snapshot's
texts and stories, the new page's stories and the index of every known story, and
decides the alerts; the pipeline stores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scraper import alerts as ev
from scraper.alerts import make_alert
from scraper.diff import diff_texts, strip_ignored
from scraper.identity import KnownStory, PreviousStory, StoryIndex, match_stories
from scraper.models import Alert, StorySplit, Watch
from scraper.store import StoryRecord

__all__ = ["Comparison", "Previous", "compare_snapshot", "looks_like_error_page"]

CheckStatus = Literal["new", "changed", "unchanged", "failed", "blocked"]


@dataclass(frozen=True, slots=True)
class Previous:
    """The latest stored snapshot of a watch: its block texts and its stories."""

    texts: list[str]
    stories: Sequence[StoryRecord]


@dataclass(frozen=True, slots=True)
class Comparison:
    status: CheckStatus
    alerts: tuple[Alert, ...]
    stories: tuple[StoryRecord, ...]  # the new snapshot's stories, with their ids
    new_story_ids: tuple[str, ...]  # ids first seen anywhere in this check


def _story_lines(
    title: str | None, paragraphs: Sequence[str], ignore: Sequence[str]
) -> tuple[str, ...]:
    # The headline is the first line, so a changed headline is a changed story.
    head = (f"# {title}",) if title else ()
    return head + strip_ignored(paragraphs, ignore)


def _lead(paragraphs: Sequence[str], limit: int = 280) -> str:
    text = paragraphs[0] if paragraphs else ""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def compare_snapshot(
    watch: Watch,
    page_title: str | None,
    texts: list[str],
    split: StorySplit,
    previous: Previous | None,
    index: StoryIndex,
    now: str,
    *,
    recent: Mapping[str, set[str]] | None = None,
    fresh: set[str] | None = None,
) -> Comparison:
    """Decide what a new snapshot announces. Pure: no I/O; updates ``index`` in place.

    - first snapshot: one page.new line listing its stories (recorded, not announced
      one by one);
    - later: per story (matched by fingerprint to the previous snapshot): story.changed
      with that story's diff, story.new (first seen anywhere), story.duplicate (first
      seen on another watch), story.removed; page.mixed when a page starts carrying
      more than one story; page.changed only for pages without stories (section fronts);
    - text outside stories (teasers, dropped repeats) changing alone announces nothing;
    - ``recent``: story id -> its recent versions (exact hashes): a story changing back
      to one of them is not announced (compare_versions);
    - ``fresh``: ids of stories first stored after the previous snapshot (a debounced
      window): still announced as story.new.
    """
    def alert(event: str, **fields: object) -> Alert:
        return make_alert(event, watch=watch.name, url=watch.url, ts=now, **fields)

    old_stories = list(previous.stories) if previous else []
    matches = match_stories(
        [PreviousStory(s.story_id, s.title, s.exact, s.simhash) for s in old_stories],
        split.stories,
    )
    alerts: list[Alert] = []
    records: list[StoryRecord] = []
    new_ids: list[str] = []
    for match, story in zip(matches, split.stories, strict=True):
        fingerprint = story.fingerprint
        if match.old_index is not None:
            old = old_stories[match.old_index]
            story_id = old.story_id
            flipped_back = recent is not None and fingerprint.exact in recent.get(story_id, ())
            if (old.exact != fingerprint.exact or old.title != story.title) and not flipped_back:
                diff = diff_texts(_story_lines(old.title, old.paragraphs, watch.ignore),
                                  _story_lines(story.title, story.paragraphs, watch.ignore))
                if not diff.empty:
                    alerts.append(alert(
                        ev.STORY_CHANGED, story_id=story_id, title=story.title,
                        added=diff.added, removed=diff.removed, changed=diff.changed,
                        diff=diff.unified,
                    ))
        else:
            known = index.find(fingerprint.exact, fingerprint.simhash, story.title)
            if known is not None and fresh and known.story_id in fresh:
                story_id = known.story_id
                alerts.append(alert(
                    ev.STORY_NEW, story_id=story_id, title=story.title,
                    paragraphs=len(story.paragraphs), lead=_lead(story.paragraphs),
                ))
            elif known is not None:
                story_id = known.story_id
                if previous is not None and known.first_watch != watch.name:
                    alerts.append(alert(
                        ev.STORY_DUPLICATE, story_id=story_id, title=story.title,
                        first_watch=known.first_watch,
                    ))
            else:
                story_id = story.id
                new_ids.append(story_id)
                index.add(KnownStory(story_id, fingerprint.simhash, fingerprint.exact,
                                     watch.name, story.title))
                if previous is not None:
                    alerts.append(alert(
                        ev.STORY_NEW, story_id=story_id, title=story.title,
                        paragraphs=len(story.paragraphs), lead=_lead(story.paragraphs),
                    ))
        records.append(StoryRecord(story_id, story.title, fingerprint.exact,
                                   fingerprint.simhash, story.paragraphs))

    if previous is None:
        alerts.append(alert(
            ev.PAGE_NEW, title=page_title, blocks=len(texts), mixed=split.mixed,
            stories=[{"story_id": r.story_id, "title": r.title,
                      "paragraphs": len(r.paragraphs)} for r in records],
        ))
        return Comparison("new", tuple(alerts), tuple(records), tuple(new_ids))

    matched = {m.old_index for m in matches if m.old_index is not None}
    for j, old in enumerate(old_stories):
        if j not in matched:
            alerts.append(alert(ev.STORY_REMOVED, story_id=old.story_id, title=old.title))
    if split.mixed and len(old_stories) <= 1:
        alerts.append(alert(
            ev.PAGE_MIXED, title=page_title,
            stories=[{"story_id": r.story_id, "title": r.title} for r in records],
        ))
    if not records and not old_stories:
        diff = diff_texts(strip_ignored(previous.texts, watch.ignore),
                          strip_ignored(texts, watch.ignore))
        if not diff.empty:
            alerts.append(alert(
                ev.PAGE_CHANGED, title=page_title, added=diff.added, removed=diff.removed,
                changed=diff.changed, diff=diff.unified,
            ))
    status: CheckStatus = "changed" if alerts else "unchanged"
    return Comparison(status, tuple(alerts), tuple(records), tuple(new_ids))


def looks_like_error_page(
    previous: Previous | None, texts: Sequence[str], split: StorySplit
) -> str | None:
    """Why a 200 response looks like an error page, or None.

    Sites answer 200 with "Sorry, something went wrong": taken as the new text, it would
    announce every story as removed, and their return as nothing. A page on which none
    of the stories it had survives, with less than 60% of its text left, is treated as a
    failed fetch instead: the last snapshot stays, and failure_threshold such fetches in
    a row raise fetch.failed with this reason.
    """
    if previous is None or not previous.stories:
        return None
    before = sum(len(t) for t in previous.texts)
    after = sum(len(t) for t in texts)
    if after >= 0.6 * before:
        return None
    old = [PreviousStory(s.story_id, s.title, s.exact, s.simhash) for s in previous.stories]
    if any(m.old_index is not None for m in match_stories(old, split.stories)):
        return None  # a story shrank: an edit, announced as one
    return (f"none of the page's {len(old)} stories is left and "
            f"{100 - 100 * after // max(before, 1)}% of its text is gone: an error page? "
            "(the last snapshot is kept)")
