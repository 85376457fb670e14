"""Text primitives shared by the splitter: normalisation, tokens, line shapes, fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from scraper.models import Fingerprint

# The largest Hamming distance between two SimHashes that still means "the same story".
# Measured on the ground-truth bodies of ../shared/benchmarks/article-extraction (83 with
# >= 150 words, median 608): rewriting, deleting or altering one sentence (830 edits) gives
# distances of median 4, 99th percentile 12, max 14 (max 10 for bodies >= 600 words, 14 for
# 150-600 words); two different stories (3,403 pairs) give median 32, 1st percentile 23,
# min 20. 14 keeps every edit and stays 6 bits clear of the closest pair of stories.
NEAR_DISTANCE = 14

# Dots and apostrophes (of any style) vanish inside words ("U.S." == "US", "don’t" ==
# "don't" == "dont"); every other punctuation mark, curly quotes and all dashes included,
# separates words ("US-made" == "U.S.–made" == "us made"). Doing this with two regexes
# rather than a translation table keeps normalise at a few microseconds a block.
_GLUE = re.compile("[.'\u2018\u2019\u201a\u201b\u2032`\u00b4\u200b]")
_PUNCT = re.compile(r"[^\w\s]|_")


@lru_cache(maxsize=4096)  # the splitter looks at each block several times
def normalise(text: str) -> str:
    """Casefolded, quotes and dashes unified, punctuation stripped, whitespace collapsed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(_PUNCT.sub(" ", _GLUE.sub("", text.casefold())).split())


# Function words carry no topic: they are left out of the lexical-cohesion vectors.
STOPWORDS = frozenset((
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few",
    "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers",
    "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of",
    "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same",
    "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until",
    "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours", "said", "says", "say", "told",
    "according", "would", "could", "one", "two", "three", "new", "first", "last", "year",
    "years", "week", "month", "time", "mr", "mrs", "ms", "dr", "people", "like", "get", "got",
    "make", "made", "many", "much", "may", "might", "must", "shall", "still", "even", "well",
    "back", "way", "since", "yet", "per", "via",
))


@lru_cache(maxsize=4096)
def block_words(text: str) -> tuple[str, ...]:
    """The normalised words of a block: every step tokenises through here, once a text."""
    return tuple(normalise(text).split())


@lru_cache(maxsize=4096)
def block_stems(text: str) -> frozenset[str]:
    """The block's words cut to six letters, as a set (what names are looked up in)."""
    return frozenset(w[:6] for w in block_words(text))


@lru_cache(maxsize=4096)
def _topic_terms(text: str) -> Counter[str]:
    return Counter(
        w[:6] for w in block_words(text) if len(w) > 2 and w not in STOPWORDS
        and not w.isdigit()
    )


def topic_terms(text: str) -> Counter[str]:
    """Content words, crudely stemmed by truncation: the vocabulary a story is about.
    (Cached: callers must not change the Counter they get.)"""
    return _topic_terms(text)


def cosine(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    na = sum(v * v for v in a.values()) ** 0.5
    nb = sum(v * v for v in b.values()) ** 0.5
    return dot / (na * nb)


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!;:,]['\"\u2019\u201d)\]]*$")
_BULLET = re.compile(r"^(?:[-\u2013\u2014\u2022*\u00b7]\s+)|(?:\s+[-\u2013\u2014\u2022*])$")


def is_url(text: str) -> bool:
    return _URL.fullmatch(text.strip()) is not None


@lru_cache(maxsize=4096)
def strip_bullet(text: str) -> str:
    """'- Trump rebuked by Senate -' -> 'Trump rebuked by Senate'."""
    return _BULLET.sub("", text.strip()).strip()


@lru_cache(maxsize=4096)
def looks_like_headline(text: str) -> bool:
    """A short line that does not end like a sentence: a headline or a crosshead."""
    core = strip_bullet(text)
    n = len(core.split())
    if not 2 <= n <= 20 or len(core) > 160:
        return False
    if _SENTENCE_END.search(core):
        return False
    first = core.lstrip("\"'\u2018\u201c([")[:1]
    return first.isupper() or first.isdigit()


@lru_cache(maxsize=4096)
def sentence_count(text: str) -> int:
    return max(1, len(re.findall(r"[.!?]['\"\u2019\u201d)]*(?:\s|$)", text)))


# A dateline opens a wire story: "CARACAS:", "LONDON (Reuters) -", "WASHINGTON —",
# "NEW YORK, May 3 (Reuters) -", "Caracas, Venezuela (AP) —".
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATELINE = re.compile(
    r"^(?:"
    r"(?P<caps>[A-Z][A-Z'.\-]{2,}(?:[ ][A-Z][A-Z'.\-]+){0,3})"
    r"(?:,[ ]+[A-Z][A-Za-z.]+(?:[ ][A-Z][A-Za-z.]+)?)?"
    r"|[A-Z][a-z]+(?:[ ][A-Z][a-z]+)?,[ ]+[A-Z][A-Za-z.]+(?:[ ][A-Z][A-Za-z.]+)?(?=[ ]*\()"
    r")"
    rf"(?:,?[ ]+{_MONTH}[ ]+\d{{1,2}})?"
    r"(?:[ ]*\([A-Za-z .&/\-]{2,30}\))?"
    r"[ ]*(?::|\u2014|\u2013|--?)[ ]+\S"
)
# All-capital labels that open paragraphs but are not places.
_NOT_PLACES = frozenset((
    "UPDATE", "UPDATED", "EXCLUSIVE", "WATCH", "BREAKING", "READ", "ALSO", "NOTE", "EDITOR",
    "EDITORS", "CORRECTION", "PHOTO", "PHOTOS", "VIDEO", "LISTEN", "ANALYSIS", "OPINION",
    "LIVE", "FILE", "SOURCE", "SOURCES", "WARNING",
))


@lru_cache(maxsize=4096)
def dateline(text: str) -> str | None:
    """The dateline label ('CARACAS') if the paragraph opens with one."""
    m = _DATELINE.match(text)
    if m is None:
        return None
    label = (m.group("caps") or m.group(0).split(",")[0]).strip()
    if label.split(" ")[0].strip(".") in _NOT_PLACES:
        return None
    return label


@lru_cache(maxsize=1 << 16)  # a site's vocabulary recurs from page to page
def _word_hash(word: str) -> bytes:
    return hashlib.md5(word.encode(), usedforsecurity=False).digest()[:8]


# Byte -> b"0" or b"1" for bit j: with bytes.translate and int(..., 2) one bit of every
# word's hash becomes one big integer (a bit plane) at C speed.
_BIT_TABLES = [bytes(0x30 + ((v >> j) & 1) for v in range(256)) for j in range(8)]


def simhash(text: str) -> int:
    """64-bit SimHash over the word 3-shingles of normalised text, each shingle weighted by
    its count. A shingle's hash is h(w1) ^ rotl(h(w2), 21) ^ rotl(h(w3), 42) (a cyclic
    "buzhash" of 8-byte MD5 word hashes), so every bit of every shingle is computed at once
    from 64 bit planes of big integers instead of hashing each shingle separately."""
    words = text.split()
    n = len(words)
    if n < 3:  # too short for shingles: the text is its own one feature
        return int.from_bytes(_word_hash(text), "big") if words else 0
    data = b"".join([_word_hash(w) for w in words])
    planes = [0] * 64  # planes[b]: bit b of word i's hash at bit n - 1 - i
    for byte_index in range(8):
        column = data[byte_index::8]
        for j in range(8):
            planes[(7 - byte_index) * 8 + j] = int(column.translate(_BIT_TABLES[j]), 2)
    # Shingle k (words k..k+2) sits at bit n - 1 - k; the last two bits start no shingle.
    mask = ((1 << n) - 1) ^ 3
    value = 0
    for b in range(64):
        bits = (planes[b] ^ (planes[(b - 21) % 64] << 1) ^ (planes[(b - 42) % 64] << 2)) & mask
        if 2 * bits.bit_count() > n - 2:
            value |= 1 << b
    return value


def fingerprint_text(paragraphs: Iterable[str]) -> Fingerprint:
    """Exact digest and SimHash of a story body. Paragraph breaks count as whitespace."""
    # Normalising paragraph by paragraph and joining equals normalising the joined text.
    text = " ".join(n for n in map(normalise, paragraphs) if n)
    exact = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return Fingerprint(exact=exact, simhash=simhash(text))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
