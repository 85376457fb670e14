"""The [[watch]] keys of following a site: defaults, ranges, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import load_config
from scraper.errors import ConfigError

WATCH = '[[watch]]\nname = "w"\nurl = "https://example.org/world"\n'


def _load(tmp_path: Path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_follow_defaults(tmp_path):
    watch = _load(tmp_path, WATCH).watches[0]
    assert (watch.follow, watch.follow_for, watch.follow_match, watch.follow_max) == (
        False, 2 * 86400.0, (), 500)


def test_follow_keys_are_read(tmp_path):
    watch = _load(tmp_path, WATCH + 'follow = true\nfollow_for = "3d"\n'
                  "follow_match = ['/\\d{4}/']\nfollow_max = 20\n").watches[0]
    assert watch.follow and watch.follow_for == 3 * 86400.0
    assert watch.follow_match == ("/\\d{4}/",) and watch.follow_max == 20


@pytest.mark.parametrize(("line", "key", "words"), [
    ('follow = "yes"', "follow", "true or false"),
    ('follow_for = "0s"', "follow_for", "follow_for"),
    ('follow_for = "400d"', "follow_for", "400d"),
    ("follow_max = 0", "follow_max", "1 to 100,000"),
    ("follow_max = true", "follow_max", "whole number"),
    ("follow_match = ['(']", "follow_match", "not a valid regular expression"),
])
def test_bad_follow_values_name_the_key_and_line(tmp_path, line, key, words):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, WATCH + line + "\n")
    assert info.value.key == key and info.value.line == 4
    assert words in str(info.value) or words in info.value.message
