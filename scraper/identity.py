"""Recognise stories across fetches and across watches. Pure and synchronous.

A story keeps its id while it lives: on the next fetch of the same page it is matched to
the previous snapshot's stories (exact hash, then nearest SimHash within
``NEAR_DISTANCE``, then same headline); a story that matches nothing there is looked up in
``StoryIndex``, every story ever stored, to tell a story seen for the first time anywhere
from one that turned up on another watch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scraper.models import Story
from scraper.stories import NEAR_DISTANCE, hamming, normalise

__all__ = ["INDEX_DISTANCE", "KnownStory", "StoryIndex", "StoryMatch", "match_stories"]

# NEAR_DISTANCE is for pairing two versions of one page's stories: a handful of
# candidates. A lookup against every stored story is one-against-all: two unrelated
# SimHashes fall within 14 bits with chance ~3.5e-6, so among 100,000 stories a false
# match is likely. Alone, a SimHash must be within INDEX_DISTANCE bits (random chance
# ~4e-12 a pair); up to NEAR_DISTANCE only when the headlines agree too.
INDEX_DISTANCE = 6


@dataclass(frozen=True, slots=True)
class KnownStory:
    story_id: str
    simhash: int
    exact: str
    first_watch: str
    title: str | None = None


# Seven bands of the 64 SimHash bits (10 + 6 x 9): two SimHashes within INDEX_DISTANCE
# (6) bits differ in at most six bands, so they agree on at least one (pigeonhole).
_BANDS = tuple((shift, (1 << width) - 1) for shift, width in
               ((0, 10), (10, 9), (19, 9), (28, 9), (37, 9), (46, 9), (55, 9)))
assert len(_BANDS) > INDEX_DISTANCE


class StoryIndex:
    """Every stored story, for lookups by exact hash and by nearest SimHash.

    A near lookup compares only the stories that share a band of the SimHash with the
    query (every story within INDEX_DISTANCE does) or its headline (the only way a story
    further away may match), not every story: a scan of all of them grew with the
    store (3.4 ms a lookup at 100,000 random stories; 0.17 ms by band), quadratic over
    a large run.
    Results are what the full scan gives: the nearest, the earliest added on a tie.
    """

    def __init__(self, stories: Sequence[KnownStory] = ()) -> None:
        self._by_exact: dict[str, KnownStory] = {}
        self._by_id: dict[str, KnownStory] = {}
        self._order: dict[str, int] = {}  # story id -> when added (ties go to the earliest)
        self._added = 0
        self._bands: list[dict[int, set[str]]] = [{} for _ in _BANDS]
        self._by_headline: dict[str, set[str]] = {}
        for story in stories:
            self.add(story)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, story: KnownStory) -> None:
        if story.story_id in self._by_id:
            self._unlink(self._by_id[story.story_id])
        self._by_id[story.story_id] = story
        self._order[story.story_id] = self._added
        self._added += 1
        self._by_exact.setdefault(story.exact, story)
        for band, (shift, mask) in zip(self._bands, _BANDS, strict=True):
            band.setdefault((story.simhash >> shift) & mask, set()).add(story.story_id)
        if story.title:
            self._by_headline.setdefault(normalise(story.title), set()).add(story.story_id)

    def discard(self, story_id: str) -> None:
        """Forget a story added by a comparison whose check was not stored."""
        story = self._by_id.pop(story_id, None)
        if story is not None:
            self._unlink(story)
            del self._order[story_id]

    def _unlink(self, story: KnownStory) -> None:
        if self._by_exact.get(story.exact) is story:
            del self._by_exact[story.exact]
        for band, (shift, mask) in zip(self._bands, _BANDS, strict=True):
            band.get((story.simhash >> shift) & mask, set()).discard(story.story_id)
        if story.title:
            self._by_headline.get(normalise(story.title), set()).discard(story.story_id)

    def get(self, story_id: str) -> KnownStory | None:
        return self._by_id.get(story_id)

    def find(self, exact: str, simhash: int, title: str | None = None) -> KnownStory | None:
        """The stored story this one is: same text, a very near SimHash, or a near one
        under the same headline."""
        found = self._by_exact.get(exact)
        if found is not None:
            return found
        near: set[str] = set()
        for band, (shift, mask) in zip(self._bands, _BANDS, strict=True):
            near.update(band.get((simhash >> shift) & mask, ()))
        headline = normalise(title) if title else None
        same_headline = self._by_headline.get(headline, set()) if headline else set()
        best: tuple[int, int] | None = None
        best_id = None
        for story_id in near | same_headline:
            distance = (self._by_id[story_id].simhash ^ simhash).bit_count()
            limit = NEAR_DISTANCE if story_id in same_headline else INDEX_DISTANCE
            if distance <= limit:
                rank = (distance, self._order[story_id])
                if best is None or rank < best:
                    best, best_id = rank, story_id
        return self._by_id[best_id] if best_id is not None else None


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """``new[new_index]`` is the same story as ``old[old_index]`` (or None: unmatched)."""

    new_index: int
    old_index: int | None


@dataclass(frozen=True, slots=True)
class PreviousStory:
    story_id: str
    title: str | None
    exact: str
    simhash: int


def match_stories(old: Sequence[PreviousStory], new: Sequence[Story]) -> list[StoryMatch]:
    """Pair each new story with at most one old story: exact, then nearest, then title."""
    taken: set[int] = set()
    pairs: dict[int, int] = {}
    for i, story in enumerate(new):
        for j, previous in enumerate(old):
            if j not in taken and previous.exact == story.fingerprint.exact:
                pairs[i] = j
                taken.add(j)
                break
    # Nearest first across all pairs, so two similar stories do not swap partners.
    candidates = sorted(
        (hamming(story.fingerprint.simhash, previous.simhash), i, j)
        for i, story in enumerate(new) if i not in pairs
        for j, previous in enumerate(old) if j not in taken
    )
    for distance, i, j in candidates:
        if distance > NEAR_DISTANCE:
            break
        if i not in pairs and j not in taken:
            pairs[i] = j
            taken.add(j)
    # A heavy edit moves the SimHash far, but a story that keeps its headline on the same
    # page is still that story.
    for i, story in enumerate(new):
        if i in pairs or not story.title:
            continue
        for j, previous in enumerate(old):
            if j not in taken and previous.title and (
                normalise(previous.title) == normalise(story.title)
            ):
                pairs[i] = j
                taken.add(j)
                break
    return [StoryMatch(i, pairs.get(i)) for i in range(len(new))]
