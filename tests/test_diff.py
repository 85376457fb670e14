from __future__ import annotations

from scraper.diff import diff_texts, strip_ignored


def test_counts_added_removed_changed():
    diff = diff_texts(["a", "b", "c", "d"], ["a", "B", "c", "e", "f"])
    assert (diff.added, diff.removed, diff.changed) == (1, 0, 2)
    assert "-b" in diff.unified and "+B" in diff.unified and "+f" in diff.unified


def test_whitespace_only_is_no_change():
    diff = diff_texts(["one  two", "three"], [" one two ", "three\n"])
    assert diff.empty and diff.unified == ""


def test_pure_insert_and_delete():
    assert diff_texts(["a"], ["a", "b"]).added == 1
    assert diff_texts(["a", "b"], ["a"]).removed == 1


def test_ignore_patterns_strip_before_comparing():
    old = strip_ignored(["Updated 10:42", "Body text", "1,204 views"], [r"Updated \d+:\d+",
                                                                       r"[\d,]+ views"])
    new = strip_ignored(["Updated 11:07", "Body text", "1,309 views"], [r"Updated \d+:\d+",
                                                                       r"[\d,]+ views"])
    assert old == new == ("Body text",)
    assert diff_texts(old, new).empty
