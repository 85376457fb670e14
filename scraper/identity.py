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


class StoryIndex:
    """Every stored story, for lookups by exact hash and by nearest SimHash.

    The near lookup scans all SimHashes (an XOR and a popcount each, ~0.1 µs): at 100,000
    stories that is about 10 ms, paid only for stories a page did not already carry.
    """

    def __init__(self, stories: Sequence[KnownStory] = ()) -> None:
        self._by_exact: dict[str, KnownStory] = {}
        self._by_id: dict[str, KnownStory] = {}
        for story in stories:
            self.add(story)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, story: KnownStory) -> None:
        self._by_id[story.story_id] = story
        self._by_exact.setdefault(story.exact, story)

    def discard(self, story_id: str) -> None:
        """Forget a story added by a comparison whose check was not stored."""
        story = self._by_id.pop(story_id, None)
        if story is not None and self._by_exact.get(story.exact) is story:
            del self._by_exact[story.exact]

    def get(self, story_id: str) -> KnownStory | None:
        return self._by_id.get(story_id)

    def find(self, exact: str, simhash: int, title: str | None = None) -> KnownStory | None:
        """The stored story this one is: same text, a very near SimHash, or a near one
        under the same headline."""
        found = self._by_exact.get(exact)
        if found is not None:
            return found
        headline = normalise(title) if title else None
        best: KnownStory | None = None
        best_distance = NEAR_DISTANCE + 1
        for story in self._by_id.values():
            distance = (story.simhash ^ simhash).bit_count()
            if distance >= best_distance:
                continue
            if distance <= INDEX_DISTANCE or (
                headline and story.title and normalise(story.title) == headline
            ):
                best, best_distance = story, distance
        return best


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
