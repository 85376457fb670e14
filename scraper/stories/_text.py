"""Text primitives shared by the splitter: normalisation, tokens, line shapes, fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from scraper.models import Fingerprint

# The largest Hamming distance between two SimHashes that still means "the same story".
# Measured on the ground-truth bodies of ../shared/benchmarks/article-extraction (83 with
# >= 150 words, median 608): rewriting, deleting or altering one sentence (830 edits) gives
# distances of median 4, 99th percentile 11, max 15 (2 edits above 14); two different
# stories (3,403 pairs) give median 32, 1st percentile 23, min 16. 14 sits between them.
NEAR_DISTANCE = 14

_CHAR_MAP = str.maketrans(
    {c: "'" for c in "\u2018\u2019\u201a\u201b\u2032`\u00b4"}
    | {c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"}
    | {c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"}
    | {"\u00a0": " ", "\u200b": ""}
)
# Dots and apostrophes vanish inside words ("U.S." == "US", "don't" == "dont"); every
# other punctuation mark separates words ("US-made" == "U.S.-made" == "us made").
_GLUE = re.compile(r"[.']")
_PUNCT = re.compile(r"[^\w\s]|_")


@lru_cache(maxsize=4096)  # the splitter looks at each block several times
def normalise(text: str) -> str:
    """Casefolded, quotes and dashes unified, punctuation stripped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP).casefold()
    return " ".join(_PUNCT.sub(" ", _GLUE.sub("", text)).split())


def words(text: str) -> list[str]:
    return normalise(text).split()


# Function words carry no topic: they are left out of the lexical-cohesion vectors.
_STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "said", "says", "say", "told", "according", "would", "could", "one", "two", "three", "new", "first", "last", "year", "years", "week", "month", "time", "mr", "mrs", "ms", "dr", "people", "like", "get", "got", "make", "made", "many", "much", "may", "might", "must", "shall", "still", "even", "well", "back", "way", "since", "yet", "per", "via"]
)


def topic_terms(text: str) -> Counter[str]:
    """Content words, crudely stemmed by truncation: the vocabulary a story is about."""
    return Counter(
        w[:6] for w in normalise(text).split() if len(w) > 2 and w not in _STOPWORDS
        and not w.isdigit()
    )


def cosine(a: Counter[str], b: Counter[str]) -> float:
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


def strip_bullet(text: str) -> str:
    """'- Trump rebuked by Senate -' -> 'Trump rebuked by Senate'."""
    return _BULLET.sub("", text.strip()).strip()


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
_NOT_PLACES = frozenset(
    ["UPDATE", "UPDATED", "EXCLUSIVE", "WATCH", "BREAKING", "READ", "ALSO", "NOTE", "EDITOR", "EDITORS", "CORRECTION", "PHOTO", "PHOTOS", "VIDEO", "LISTEN", "ANALYSIS", "OPINION", "LIVE", "FILE", "SOURCE", "SOURCES", "WARNING"]
)


def dateline(text: str) -> str | None:
    """The dateline label ('CARACAS') if the paragraph opens with one."""
    m = _DATELINE.match(text)
    if m is None:
        return None
    label = (m.group("caps") or m.group(0).split(",")[0]).strip()
    if label.split(" ")[0].strip(".") in _NOT_PLACES:
        return None
    return label


def _shingle_hashes(tokens: list[str]) -> bytes:
    if len(tokens) < 3:
        grams = [" ".join(tokens)] if tokens else []
    else:
        grams = [" ".join(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    return b"".join(hashlib.blake2b(g.encode(), digest_size=8).digest() for g in grams)


# For bit j of a byte: a table mapping each byte to 1 if that bit is set, else 0; with
# bytes.translate + count this tallies one bit column over all shingles at C speed.
_BIT_TABLES = [bytes((b >> j) & 1 for b in range(256)) for j in range(8)]


def simhash(tokens: list[str]) -> int:
    """64-bit SimHash over word 3-shingles (each shingle weighted by its count)."""
    digests = _shingle_hashes(tokens)
    n = len(digests) // 8
    if n == 0:
        return 0
    value = 0
    for byte_index in range(8):
        column = digests[byte_index::8]
        for j in range(8):
            ones = column.translate(_BIT_TABLES[j]).count(1)
            if 2 * ones > n:
                # byte 0 of a big-endian digest holds bits 63..56
                value |= 1 << ((7 - byte_index) * 8 + j)
    return value


def fingerprint_text(paragraphs: Iterable[str]) -> Fingerprint:
    """Exact digest and SimHash of a story body. Paragraph breaks count as whitespace."""
    # Normalising paragraph by paragraph and joining equals normalising the joined text.
    text = " ".join(n for n in map(normalise, paragraphs) if n)
    exact = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return Fingerprint(exact=exact, simhash=simhash(text.split()))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
