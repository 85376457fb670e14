from __future__ import annotations

from scraper.identity import (
    INDEX_DISTANCE,
    KnownStory,
    PreviousStory,
    StoryIndex,
    match_stories,
)
from scraper.models import Fingerprint, Story
from scraper.stories import NEAR_DISTANCE


def story(title: str | None, simhash: int, exact: str) -> Story:
    return Story(title=title, paragraphs=("p",), fingerprint=Fingerprint(exact, simhash))


def test_exact_match_first_then_nearest():
    old = [PreviousStory("a", "A", "ea", 0b0000), PreviousStory("b", "B", "eb", 0xFF00)]
    new = [story("B", 0xFF01, "eb2"), story("A", 0b0000, "ea")]
    matches = match_stories(old, new)
    assert [m.old_index for m in matches] == [1, 0]


def test_far_story_with_other_title_is_unmatched():
    far = (1 << NEAR_DISTANCE + 1) - 1  # NEAR_DISTANCE + 1 bits set
    old = [PreviousStory("a", "Old headline", "ea", 0)]
    matches = match_stories(old, [story("New headline", far, "en")])
    assert matches[0].old_index is None


def test_heavy_rewrite_under_the_same_headline_is_the_same_story():
    old = [PreviousStory("a", "Ferry strike called off", "ea", 0)]
    matches = match_stories(old, [story("Ferry strike called off", (1 << 40) - 1, "en")])
    assert matches[0].old_index == 0


def test_each_old_story_is_matched_once():
    old = [PreviousStory("a", None, "ea", 0)]
    matches = match_stories(old, [story(None, 1, "x"), story(None, 3, "y")])
    assert [m.old_index for m in matches] == [0, None]


def test_index_finds_exact_and_near_but_not_far():
    index = StoryIndex([KnownStory("s1", 0, "e1", "w", "Ferry strike")])
    assert index.find("e1", 1 << 63) is not None  # exact hash wins whatever the SimHash
    assert index.find("other", 0b111) is not None
    assert index.find("other", (1 << (NEAR_DISTANCE + 1)) - 1) is None
    index.add(KnownStory("s2", 1 << 63, "e2", "v"))
    found = index.find("zzz", 1 << 63)
    assert found is not None and found.story_id == "s2" and len(index) == 2
    # A story added again under its id replaces the old one, exact hash included.
    index.add(KnownStory("s2", 1 << 63, "e2-edited", "v"))
    far = 0x5555_5555_5555_5555  # 32 bits from both SimHashes
    assert index.find("e2", far) is None and len(index) == 2
    assert index.find("e2-edited", far) == index.get("s2")


def test_index_needs_the_headline_beyond_index_distance():
    # One against all: a SimHash 10 bits away alone is too likely to be another story.
    index = StoryIndex([KnownStory("s1", 0, "e1", "w", "Ferry crews to strike")])
    ten_bits = (1 << 10) - 1
    assert INDEX_DISTANCE < 10 <= NEAR_DISTANCE
    assert index.find("x", ten_bits) is None
    assert index.find("x", ten_bits, "Library wins award") is None
    found = index.find("x", ten_bits, "Ferry Crews to Strike!")
    assert found is not None and found.story_id == "s1"


def _scan(stories: list[KnownStory], exact: str, simhash: int, title: str | None):
    """The lookup as a full scan: what the banded index must give."""
    from scraper.stories import normalise

    for s in stories:
        if s.exact == exact:
            return s
    best, best_distance = None, NEAR_DISTANCE + 1
    for s in stories:
        distance = (s.simhash ^ simhash).bit_count()
        if distance < best_distance and (distance <= INDEX_DISTANCE or (
                title and s.title and normalise(s.title) == normalise(title))):
            best, best_distance = s, distance
    return best


def test_banded_index_finds_what_a_full_scan_finds():
    import random

    rng = random.Random(7)
    titles = ["Ferry strike", "Library wins award", "Budget vote", None]
    stories = [KnownStory(f"s{i}", rng.getrandbits(64), f"e{i}", "w", rng.choice(titles))
               for i in range(400)]
    # Near twins, so ties and nearest-of-several are exercised too.
    for i in range(0, 400, 40):
        stories.append(KnownStory(f"twin{i}", stories[i].simhash ^ 0b11, f"t{i}", "w"))
    index = StoryIndex(stories)
    for s in stories[::8]:
        index.discard(s.story_id)
    kept = [s for s in stories if index.get(s.story_id) is not None]
    assert len(index) == len(kept) < len(stories)
    checked = 0
    for _ in range(3000):
        base = rng.choice(stories)
        flips = rng.randrange(0, NEAR_DISTANCE + 3)
        simhash = base.simhash
        for bit in rng.sample(range(64), flips):
            simhash ^= 1 << bit
        title = rng.choice(titles)
        exact = rng.choice([base.exact, "unknown"])
        expected = _scan(kept, exact, simhash, title)
        assert index.find(exact, simhash, title) == expected
        checked += expected is not None
    assert checked > 1000  # most lookups found something: the comparison is not vacuous
