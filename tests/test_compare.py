"""compare_snapshot is pure: previous snapshot + new stories in, alerts out."""

from __future__ import annotations

from scraper.compare import Previous, compare_snapshot, looks_like_error_page
from scraper.identity import StoryIndex
from scraper.models import Story, StorySplit, Watch
from scraper.store import StoryRecord
from scraper.stories import fingerprint_text

WATCH = Watch(name="w", url="https://example.org/", interval=60, timeout=5)
NOW = "2026-01-01T00:00:00.000Z"
A = ("Council approves new cycle lanes", ["The lanes run along the river road.",
                                         "Work starts in March and ends in June."])
B = ("Library wins national award", ["Judges praised the reading room.",
                                     "Visitor numbers rose by a third."])


def story(title: str, paragraphs: list[str]) -> Story:
    return Story(title, tuple(paragraphs), fingerprint_text(paragraphs))


def record(s: Story, story_id: str) -> StoryRecord:
    return StoryRecord(story_id, s.title, s.fingerprint.exact, s.fingerprint.simhash,
                       s.paragraphs)


def test_first_snapshot_is_one_page_new_listing_stories():
    result = compare_snapshot(WATCH, "T", ["x"], StorySplit((story(*A), story(*B))), None,
                              StoryIndex(), NOW)
    assert [a.event for a in result.alerts] == ["page.new"]
    assert result.alerts[0].fields["mixed"] is True
    assert len(result.new_story_ids) == 2 and result.status == "new"


def test_edit_new_and_removed_against_the_previous_snapshot():
    old_a = story(*A)
    previous = Previous(texts=["x"], stories=[record(old_a, "a1")])
    edited = story(A[0], [A[1][0], "Work starts in April and ends in July."])
    result = compare_snapshot(WATCH, "T", ["y"], StorySplit((edited, story(*B))), previous,
                              StoryIndex(), NOW)
    events = [(a.event, a.fields.get("story_id")) for a in result.alerts]
    assert events[0] == ("story.changed", "a1")
    assert events[1][0] == "story.new" and events[2][0] == "page.mixed"
    assert "+Work starts in April" in str(result.alerts[0].fields["diff"])
    gone = compare_snapshot(WATCH, "T", ["z"], StorySplit((story(*B),)), previous,
                            StoryIndex(), NOW)
    assert ("story.removed", "a1") in [(a.event, a.fields.get("story_id"))
                                       for a in gone.alerts]


def test_flip_back_to_a_recent_version_is_quiet():
    old_a = story(*A)
    edited = story(A[0], [A[1][0], "Work starts in April and ends in July."])
    previous = Previous(texts=["x"], stories=[record(edited, "a1")])
    recent = {"a1": {old_a.fingerprint.exact, edited.fingerprint.exact}}
    result = compare_snapshot(WATCH, "T", ["x"], StorySplit((old_a,)), previous,
                              StoryIndex(), NOW, recent=recent)
    assert result.alerts == () and result.status == "unchanged"


def test_error_page_detection():
    previous = Previous(texts=["a long paragraph of the article " * 10],
                        stories=[record(story(*A), "a1")])
    error = StorySplit((story("Sorry", ["Something went wrong.", "Try later."]),))
    assert looks_like_error_page(previous, ["Sorry, something went wrong."], error)
    assert looks_like_error_page(previous, ["x" * 1000], error) is None  # not shrunk
    assert looks_like_error_page(None, ["x"], error) is None
