"""``scrape stories`` on anybody's file: whatever the bytes, exit 0 with a rendering or
exit 1 with one ``error:`` line, never a traceback; a big or hostile page is held to the
analyser's bounds (its deadline and memory cap), which bound each example here too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import scraper.analyse
from scraper.cli import main
from scraper.cli._stories import MAX_FILE
from tests.conftest import article_html

SUFFIXES = (".html", ".txt", "")


def run_stories(tmp_path: Path, data: bytes, suffix: str, *args: str) -> Result:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    return CliRunner().invoke(main, ["stories", str(path), *args])


def assert_clean(result: Result) -> None:
    """Exit 0, or exit 1 with one error line naming the file: never a traceback."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.output.startswith("error: ") and result.output.count("\n") == 1, \
            result.output


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES),
       as_json=st.booleans())
@example(data=b"", suffix=".html", as_json=False)
@example(data=b"\xff\xfe" + "<p>\x00\x1b[2J</p>".encode("utf-16-le"), suffix="", as_json=True)
def test_random_bytes_exit_cleanly(tmp_path, data, suffix, as_json):
    result = run_stories(tmp_path, data, suffix, *(["--json"] if as_json else []))
    assert_clean(result)
    if as_json and result.exit_code == 0:
        assert set(json.loads(result.output)) == {"source", "mixed", "stories", "dropped"}


# A snippet of markup repeated: a page as deep, as wide or as long as it likes.
SNIPPETS = ("<div>", "<span><b>", "<table><tr><td>", "<p>word ", "<li><ul>", "</div>",
            '<script type="application/ld+json">[[[[[[[[[[', "<!--", "<a href=x>",
            "<h2>Heading</h2><p>Body text of a story.</p>")


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(st.sampled_from(SNIPPETS), st.integers(1, 60_000)),
                      min_size=1, max_size=3))
@example(parts=[("<div>", 100_001)])
@example(parts=[('<script type="application/ld+json">[[[[[[[[[[', 200)])
def test_hostile_markup_is_analysed_or_refused_within_bounds(tmp_path, parts):
    html = "<html><body>" + "".join(snippet * count for snippet, count in parts)
    with pytest.MonkeyPatch.context() as patch:
        # The product's own bounds cap each example: two seconds of the worker's time.
        patch.setattr(scraper.analyse, "DEADLINE", 2.0)
        result = run_stories(tmp_path, html.encode(), ".html")
    assert_clean(result)


def test_a_refused_page_says_why(tmp_path):
    result = run_stories(tmp_path, ("<div>" * 100_001).encode(), ".html")
    assert result.exit_code == 1
    assert result.output.endswith(
        "input.html: page too complex: markup nests deeper than 10,000 elements\n")


def test_a_file_bigger_than_a_page_may_be_is_refused_unread(tmp_path):
    result = run_stories(tmp_path, b"a" * (MAX_FILE + 1), ".txt")
    assert result.exit_code == 1
    assert result.output.endswith(
        f"input.txt: larger than the {MAX_FILE:,} byte cap of a page\n")


def test_an_ordinary_page_still_splits(tmp_path):
    html = article_html("Ferry timetable changes", ["The winter timetable starts Monday.",
                                                    "Two sailings a day are dropped."])
    result = run_stories(tmp_path, html.encode(), ".html", "--json")
    assert result.exit_code == 0, result.output
    stories = json.loads(result.output)["stories"]
    assert [s["title"] for s in stories] == ["Ferry timetable changes"]
