"""Shared by the benchmarks: invented article pages and the local server that serves them.

Pages: ``make_page(seed, index, version)`` builds one news article page of about 55 KB
(navigation, inline scripts and styles, an article of 8-18 paragraphs of invented prose,
a related-stories aside, a footer); every tenth page carries a second, appended article
(the next page's, as infinite-scroll sites do). ``version`` counts edits: each one
rewrites a sentence, appends an update, changes the headline or drops a paragraph.

Server: ``PageServer(count, seed)`` starts ``python bench/_pages.py serve`` as a separate
process (aiohttp, bound to 0.0.0.0 so every 127.x.y.z address reaches it). Page ``i`` lives
at ``url_for(i, port)`` on its own loopback address ``host_for(i)``, so a watch list of
N pages spans N hosts. Responses are pre-gzipped, carry ``ETag`` and ``Last-Modified`` and
answer ``If-None-Match`` / ``If-Modified-Since`` with 304. ``/robots.txt`` allows every
page. Control requests (on the server's own 127.0.0.1): ``/_bench/edit`` bumps the
version of a share of the pages (new ETag and Last-Modified), ``/_bench/reset`` puts every
page back to version 0, ``/_bench/stats`` returns request counts and the server's CPU time,
``/_bench/validators?on=0`` stops sending validators (every fetch becomes a full 200).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The project's virtualenv (its `scrape` and `python`), else the running interpreter's.
VENV_BIN = ROOT / ".venv" / "bin"
if not (VENV_BIN / "scrape").exists():
    VENV_BIN = Path(sys.executable).parent
PAGES_PER_SUBNET = 250
BASE_TIME = 1_790_000_000  # Last-Modified of version 0 (2026-09-21), per page + index s
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"


def host_for(index: int) -> str:
    """Page ``index``'s own loopback address: 127.0.1.1, 127.0.1.2, ... 127.0.2.1, ..."""
    high, low = divmod(index, PAGES_PER_SUBNET)
    if high > 253:
        raise ValueError(f"at most {254 * PAGES_PER_SUBNET} pages")
    return f"127.0.{high + 1}.{low + 1}"


def url_for(index: int, port: int) -> str:
    return f"http://{host_for(index)}:{port}/news/{index}/story.html"


# --- invented prose -----------------------------------------------------------------------

_SYLLABLES = ("ar", "bel", "cor", "dan", "el", "fen", "gar", "hol", "ist", "jan", "kel",
              "lor", "mar", "nor", "ol", "per", "quin", "ros", "sal", "tor", "ul", "ven",
              "wick", "yar", "zen", "brook", "ford", "ham", "ley", "mouth", "ton", "wyn")
_FIRST = ("Aoife", "Bram", "Catalina", "Dev", "Eilidh", "Farid", "Greta", "Hamish", "Ines",
          "Jonas", "Keziah", "Lorcan", "Mairead", "Nikos", "Orla", "Priya", "Quentin",
          "Rosalind", "Soren", "Tamsin", "Ugo", "Vesna", "Wendell", "Ximena", "Yusuf", "Zofia")
_ROLES = ("the council's finance officer", "a spokeswoman for the port authority",
          "the head teacher", "a local shopkeeper", "the chair of the residents' association",
          "a senior paramedic", "the regional transport minister", "an engineer on the project",
          "the club's treasurer", "a volunteer coordinator", "the inspector leading the inquiry",
          "a marine biologist at the university", "the festival director", "a union official")
_SUBJECTS = ("The council", "Residents", "The harbour board", "Volunteers", "Police",
             "The health trust", "Engineers", "Traders", "The school governors", "Ministers",
             "Campaigners", "The ferry operator", "Farmers", "The water company", "Scientists",
             "Organisers", "The fire service", "Parents", "The museum", "Shopkeepers")
_VERBS = ("approved", "rejected", "delayed", "announced", "questioned", "welcomed",
          "postponed", "funded", "criticised", "reviewed", "extended", "cancelled", "doubled",
          "halved", "published", "defended", "opposed", "completed", "tested", "reopened")
_OBJECTS = ("plans for a new footbridge", "the winter timetable", "a two-year rent freeze",
            "the flood defence scheme", "repairs to the pier", "the library's opening hours",
            "a ban on overnight parking", "the coastal path diversion", "a grant for the lifeboat",
            "the redevelopment of the market hall", "proposals to merge two schools",
            "a survey of the estuary", "the night bus service", "a review of ambulance times",
            "the bid to host the regatta", "the sale of the old railway yard",
            "a pilot scheme for electric ferries", "new rules for holiday lets")
_WHEN = ("on Tuesday", "last week", "after a three-hour meeting", "earlier this month",
         "on Friday evening", "in a statement", "despite objections", "for the second time",
         "after months of talks", "at a packed public meeting", "without a vote", "this morning")
_CLAUSES = ("because costs had risen sharply since the spring",
            "although several members asked for more time to read the report",
            "which means work could start before the end of the year",
            "a decision that surprised many of those who had campaigned against it",
            "after an independent review found the original estimate was too low",
            "while promising to publish the full figures within a month",
            "so that families would not have to travel to the next town",
            "as storms last winter left parts of the promenade closed for weeks",
            "even though the consultation drew more than 3,000 replies",
            "in the hope of attracting visitors outside the summer season")
_QUOTES = ("We have listened to people and we think this is the right thing to do",
           "Nobody wanted it to come to this, but the numbers simply did not add up",
           "It is a good day for the town and for everyone who kept pushing",
           "We will keep asking questions until we get straight answers",
           "The money is there; what we need now is the will to spend it well",
           "I have lived here forty years and I have never seen anything like it",
           "This is only the first step, and there is a long way still to go",
           "People deserve to know where the decision came from and who made it")
_SECTIONS = ("News", "Local", "Politics", "Business", "Environment", "Health", "Education",
             "Transport", "Sport", "Culture", "Opinion", "Weather", "Travel", "Science",
             "Community", "Obituaries", "Property", "Jobs", "Events", "Letters")


def _place(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return name.capitalize()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {_place(rng)}"


def _bank(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_NOUNS = _bank("""
harbour council budget ferry school library bridge hospital market museum railway
station festival harvest river estuary quarry reservoir pier lighthouse orchard vineyard
clinic theatre stadium airport tunnel canal warehouse factory mill bakery brewery
fishery farm forest meadow wetland coastline promenade cathedral chapel village suburb
district parish county borough ward inquiry tribunal report survey audit review petition
protest strike contract tender grant loan levy tariff subsidy pension salary rent
mortgage lease permit licence ban curfew timetable route fleet runway junction
roundabout cycleway footpath pavement drainage sewer pipeline turbine substation battery
charger broadband mast archive gallery exhibition concert regatta marathon tournament
league academy nursery college campus laboratory dispensary pharmacy ambulance lifeboat
coastguard shelter hostel allotment cemetery monument statue fountain plaza arcade
boatyard slipway marina dredger trawler catch quota glacier storm flood drought heatwave
landslide erosion
""")
_ADJECTIVES = _bank("""
new old disputed delayed costly modest ambitious controversial temporary permanent
regional local national coastal rural urban northern southern eastern western historic
derelict crowded empty busy quiet fragile sturdy overdue unexpected rising falling
hidden public private independent voluntary seasonal annual weekly nightly cautious bold
narrow broad shallow deep steep flat damp dry sheltered exposed remote neighbouring
rival joint interim revised draft final detailed brief lengthy urgent
""")
_PAST = _bank("""
approved rejected delayed announced questioned welcomed postponed funded criticised
reviewed extended cancelled doubled halved published defended opposed completed tested
reopened closed sold bought repaired replaced demolished restored inspected surveyed
mapped measured counted challenged blocked cleared flooded drained widened narrowed
renamed relocated merged split launched scrapped paused resumed audited
""")
_BASE = _bank("""
approve reject delay announce question welcome postpone fund review extend cancel
publish defend oppose complete test reopen close sell buy repair replace restore inspect
survey measure challenge clear widen relocate merge launch scrap pause resume protect
rebuild expand reduce share explain
""")
_PREPS = ("near", "behind", "beside", "across", "along", "outside", "inside", "beyond",
          "above", "below", "around", "opposite", "towards", "past", "under")
_ADVERBS = _bank("""
quietly quickly finally formally narrowly reluctantly unanimously repeatedly briefly
partly largely jointly openly privately swiftly slowly
""")


def _noun(rng: random.Random, topic: Sequence[str]) -> str:
    return rng.choice(topic) if topic and rng.random() < 0.5 else rng.choice(_NOUNS)


def _np(rng: random.Random, topic: Sequence[str]) -> str:
    det = rng.choice(("the", "the", "a", "its", "their", "this"))
    if det == "a" and rng.random() < 0.5:
        det = "an" if rng.choice(_ADJECTIVES)[0] in "aeiou" else "a"
    adjective = f"{rng.choice(_ADJECTIVES)} " if rng.random() < 0.6 else ""
    if det in ("a", "an"):
        det = "an" if (adjective or "x")[0] in "aeiou" else "a"
    return f"{det} {adjective}{_noun(rng, topic)}"


def _sentence(rng: random.Random, place: str, topic: Sequence[str] = ()) -> str:
    """One sentence from a small grammar over large word banks: unrelated articles share
    few word 3-shingles, as real ones do; ``topic`` nouns recur within one article."""
    kind = rng.random()
    if kind < 0.3:
        subject = _np(rng, topic)
        tail = (rng.choice(_CLAUSES) if rng.random() < 0.3 else
                f"after {_np(rng, topic)} {rng.choice(_PAST)} {_np(rng, topic)}")
        text = (f"{subject[0].upper()}{subject[1:]} in {place} was {rng.choice(_ADVERBS)} "
                f"{rng.choice(_PAST)} {rng.choice(_WHEN)}, {tail}.")
    elif kind < 0.5:
        text = (f"“{_np(rng, topic).capitalize()} will {rng.choice(_BASE)} {_np(rng, topic)} "
                f"{rng.choice(_PREPS)} {_np(rng, topic)},” said {_person(rng)}, "
                f"{rng.choice(_ROLES)}.")
    elif kind < 0.65:
        text = (f"About {rng.randint(2, 950):,} {_noun(rng, topic)} users {rng.choice(_PAST)} "
                f"{_np(rng, topic)} {rng.choice(_PREPS)} {_np(rng, topic)} "
                f"{rng.choice(_WHEN)}.")
    elif kind < 0.8:
        text = (f"{_person(rng)}, {rng.choice(_ROLES)}, said {rng.randint(3, 97)} per cent "
                f"of {_np(rng, topic)} had been {rng.choice(_PAST)} since "
                f"{_np(rng, topic)} {rng.choice(_PAST)} {_np(rng, topic)}.")
    elif kind < 0.9:
        text = (f"{rng.choice(_SUBJECTS)} {rng.choice(_ADVERBS)} {rng.choice(_PAST)} "
                f"{_np(rng, topic)} {rng.choice(_PREPS)} {_np(rng, topic)}, and "
                f"{_np(rng, topic)} could {rng.choice(_BASE)} {_np(rng, topic)} by "
                f"{rng.choice(('spring', 'summer', 'autumn', 'winter', 'March', 'June'))}.")
    elif kind < 0.93:
        text = (f"“{rng.choice(_QUOTES)},” {_person(rng)} said {rng.choice(_PREPS)} "
                f"{_np(rng, topic)}.")
    else:
        text = (f"The {_noun(rng, topic)} is expected to cost about "
                f"{rng.randint(2, 950) * 1000:,}, {rng.choice(_CLAUSES)}.")
    return text


def _paragraph(rng: random.Random, place: str, topic: Sequence[str] = ()) -> str:
    return " ".join(_sentence(rng, place, topic) for _ in range(rng.randint(2, 5)))


def _headline(rng: random.Random, place: str) -> str:
    return (f"{place} {rng.choice(_SUBJECTS).removeprefix('The ').lower()} "
            f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}").capitalize()


@dataclass(frozen=True, slots=True)
class Article:
    headline: str
    byline: str
    section: str
    place: str
    paragraphs: tuple[str, ...]
    updates: int = 0  # edits applied


def _rng(*parts: object) -> random.Random:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def make_article(seed: int, index: int, version: int = 0) -> Article:
    """Article ``index`` after ``version`` edits; the same arguments give the same text."""
    rng = _rng(seed, index)
    place = _place(rng)
    topic = [*rng.sample(_NOUNS, 10), *(_place(rng).lower() for _ in range(2))]
    paragraphs = [_paragraph(rng, place, topic) for _ in range(rng.randint(8, 18))]
    headline = _headline(rng, place)
    for edit in range(1, version + 1):
        erng = _rng(seed, index, "edit", edit)
        kind = erng.random()
        if kind < 0.5:  # a sentence rewritten
            at = erng.randrange(len(paragraphs))
            sentences = paragraphs[at].split(". ")
            sentences[erng.randrange(len(sentences))] = _sentence(erng, place, topic).rstrip(".")
            paragraphs[at] = ". ".join(sentences).rstrip(".") + "."
        elif kind < 0.8:  # an update appended
            paragraphs.append(f"Update: {_paragraph(erng, place, topic)}")
        elif kind < 0.9 or len(paragraphs) <= 8:  # a new headline
            headline = _headline(erng, place)
        else:  # a paragraph dropped
            del paragraphs[erng.randrange(1, len(paragraphs))]
    return Article(
        headline=headline,
        byline=f"By {_person(rng)}",
        section=rng.choice(_SECTIONS),
        place=place,
        paragraphs=tuple(paragraphs),
        updates=version,
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _article_html(article: Article, article_id: int, modified: str) -> str:
    parts = [
        f'<article class="story" data-article-id="{article_id}">',
        f'<p class="kicker"><a href="/{article.section.lower()}">{article.section}</a></p>',
        f"<h1>{_esc(article.headline)}</h1>",
        f'<p class="byline">{_esc(article.byline)}</p>',
        f'<p class="dateline"><time datetime="{modified}">{modified[:10]}</time></p>',
        '<figure><img src="/img/lead.jpg" alt="" width="1200" height="675">'
        f"<figcaption>{_esc(article.place)} harbour at dawn. Photo: Courier staff"
        "</figcaption></figure>",
    ]
    for n, paragraph in enumerate(article.paragraphs):
        parts.append(f"<p>{_esc(paragraph)}</p>")
        if n == 3:
            parts.append('<div class="ad-slot" data-slot="mid"><span>Advertisement</span></div>')
    parts.append('<p class="share"><a href="#">Share</a> <a href="#">Comments (14)</a></p>')
    parts.append("</article>")
    return "\n".join(parts)


def _script(rng: random.Random, size: int) -> str:
    """Inline JavaScript of about ``size`` bytes (analytics, consent, ad loaders)."""
    out: list[str] = []
    total = 0
    while total < size:
        name = _place(rng).lower()
        chunk = (f"function {name}_{rng.randint(0, 9999)}(e,t){{var n=window.__cfg||{{}};"
                 f"if(!n.{name}){{n.{name}={{q:[],t:Date.now()}}}}n.{name}.q.push([e,t]);"
                 f"return n.{name}.q.length>{rng.randint(5, 50)}?n.{name}.q.shift():null}}\n")
        out.append(chunk)
        total += len(chunk)
    return "".join(out)


def _style(rng: random.Random, size: int) -> str:
    out: list[str] = []
    total = 0
    while total < size:
        cls = f"{_place(rng).lower()}-{rng.randint(0, 99)}"
        chunk = (f".{cls}{{margin:{rng.randint(0, 32)}px {rng.randint(0, 32)}px;"
                 f"color:#{rng.randint(0, 0xFFFFFF):06x};font-size:{rng.randint(10, 28)}px;"
                 f"line-height:{rng.randint(12, 20) / 10}}}\n")
        out.append(chunk)
        total += len(chunk)
    return "".join(out)


def make_page(seed: int, index: int, version: int = 0, *, count: int | None = None) -> str:
    """The HTML of page ``index`` at ``version`` (about 55 KB)."""
    article = make_article(seed, index, version)
    rng = _rng(seed, index, "chrome")
    modified = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last_modified(index, version)))
    nav = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>' for s in _SECTIONS)
    subnav = "".join(f'<li><a href="/{article.section.lower()}/{_place(rng).lower()}">'
                     f"{_place(rng)}</a></li>" for _ in range(40))
    related = "".join(
        f'<li><a href="/news/{rng.randint(1, 99999)}/story.html"><h3>'
        f"{_esc(_headline(rng, _place(rng)))}</h3></a><p>{_esc(_sentence(rng, _place(rng)))}"
        "</p></li>" for _ in range(8)
    )
    footer = "".join(f'<li><a href="/about/{_place(rng).lower()}">{_place(rng)}</a></li>'
                     for _ in range(60))
    jsonld = json.dumps({
        "@context": "https://schema.org", "@type": "NewsArticle",
        "headline": article.headline, "author": {"@type": "Person",
                                                 "name": article.byline[3:]},
        "dateModified": modified, "articleSection": article.section,
    }, ensure_ascii=False)
    body = [_article_html(article, 100_000 + index, modified)]
    if index % 10 == 9:  # a second, appended article: the next page's
        following = make_article(seed, index + 1 if count is None else (index + 1) % count)
        body.append('<div class="read-next"><p>Read next</p></div>')
        body.append(_article_html(following, 100_001 + index, modified))
    head = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_esc(article.headline)} | The Coastal Courier</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta property="og:title" content="{_esc(article.headline)}">\n'
        f"<style>\n{_style(rng, 9000)}</style>\n"
        f'<script type="application/ld+json">{jsonld}</script>\n'
        f"<script>\n{_script(rng, 16000)}</script>\n</head>\n"
    )
    page = (
        f"{head}<body>\n"
        '<div id="consent" class="banner">We use cookies to improve your experience. '
        '<button>Accept</button> <button>Manage</button></div>\n'
        f'<header class="masthead"><a class="logo" href="/">The Coastal Courier</a>'
        f'<nav class="primary"><ul>{nav}</ul></nav>'
        f'<nav class="secondary"><ul>{subnav}</ul></nav></header>\n'
        '<main id="content">\n' + "\n".join(body) + "\n"
        f'<aside class="related"><h2>More from {article.section}</h2><ul>{related}</ul></aside>\n'
        "</main>\n"
        f'<footer class="site-footer"><ul>{footer}</ul>'
        "<p>© 2026 The Coastal Courier. All rights reserved.</p></footer>\n"
        f"<script>\n{_script(rng, 14000)}</script>\n</body>\n</html>\n"
    )
    return page


def last_modified(index: int, version: int) -> int:
    return BASE_TIME + index + version * 3600


def etag_for(index: int, version: int) -> str:
    return f'"{index:x}-{version}"'


# --- the server (runs in its own process) -----------------------------------------------------


class _Pages:
    """Page state of the server: versions, and a cache of gzipped bodies."""

    def __init__(self, count: int, seed: int) -> None:
        self.count = count
        self.seed = seed
        self.versions = [0] * count
        self.bodies: dict[int, tuple[int, bytes, int]] = {}  # index -> version, gzip, size
        self.validators = True
        self.stats = {"requests": 0, "ok": 0, "not_modified": 0, "robots": 0, "bytes": 0}

    def body(self, index: int) -> tuple[bytes, int]:
        version = self.versions[index]
        cached = self.bodies.get(index)
        if cached is None or cached[0] != version:
            raw = make_page(self.seed, index, version, count=self.count).encode("utf-8")
            cached = (version, gzip.compress(raw, 6, mtime=0), len(raw))
            self.bodies[index] = cached
        return cached[1], cached[2]

    def edit(self, fraction: float, round_: int) -> list[int]:
        chosen = sorted(_rng(self.seed, "round", round_).sample(
            range(self.count), round(self.count * fraction)))
        for index in chosen:
            self.versions[index] += 1
            if index in self.bodies:
                self.body(index)  # render now, not while a benchmark is being timed
        return chosen


def _http_date(ts: int) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _parse_http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _make_app(pages: _Pages) -> Any:
    from aiohttp import web

    async def control(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        query = request.query
        result: object
        if action == "edit":
            result = pages.edit(float(query.get("fraction", "0.1")), int(query.get("round", "1")))
        elif action == "reset":
            pages.versions = [0] * pages.count
            result = "ok"
        elif action == "validators":
            pages.validators = query.get("on", "1") != "0"
            result = pages.validators
        elif action == "stats":
            times = os.times()
            result = dict(pages.stats, cpu=times.user + times.system,
                          rss_kb=_rss_kb(os.getpid()))
        elif action == "warm":
            for index in range(pages.count):
                pages.body(index)
            result = len(pages.bodies)
        else:
            raise web.HTTPNotFound()
        return web.json_response(result)

    async def page(request: web.Request) -> web.StreamResponse:
        stats = pages.stats
        stats["requests"] += 1
        if request.path == "/robots.txt":
            stats["robots"] += 1
            return web.Response(body=ROBOTS_TXT, content_type="text/plain")
        try:
            index = int(request.match_info["index"])
            version = pages.versions[index]
        except (KeyError, ValueError, IndexError):
            raise web.HTTPNotFound() from None
        headers: dict[str, str] = {"Cache-Control": "max-age=60"}
        if pages.validators:
            etag = etag_for(index, version)
            modified = last_modified(index, version)
            headers["ETag"] = etag
            headers["Last-Modified"] = _http_date(modified)
            match = request.headers.get("If-None-Match")
            since = request.headers.get("If-Modified-Since")
            if match is not None:
                fresh = etag in (tag.strip() for tag in match.split(",")) or match == "*"
            elif since is not None:
                when = _parse_http_date(since)
                fresh = when is not None and when >= modified
            else:
                fresh = False
            if fresh:
                stats["not_modified"] += 1
                return web.Response(status=304, headers=headers)
        gz, _size = pages.body(index)
        stats["ok"] += 1
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            data = gz
        else:
            data = gzip.decompress(gz)
        stats["bytes"] += len(data)
        return web.Response(body=data, headers=headers, content_type="text/html",
                            charset="utf-8")

    app = web.Application()
    app.router.add_get("/_bench/{action}", control)
    app.router.add_get("/news/{index}/{slug}", page)
    app.router.add_get("/robots.txt", page)
    return app


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def _serve(count: int, seed: int, port: int, warm: bool) -> None:
    from aiohttp import web

    pages = _Pages(count, seed)
    if warm:
        for index in range(count):
            pages.body(index)
    runner = web.AppRunner(_make_app(pages), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "0.0.0.0", port, backlog=4096)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    print(f"listening {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve_main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve invented article pages.")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--warm", action="store_true", help="render every page first")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.count, args.seed, args.port, args.warm))


class PageServer:
    """The page server in its own process: ``with PageServer(1000) as server: ...``."""

    def __init__(self, count: int, seed: int = 1, *, warm: bool = True,
                 python: str | None = None) -> None:
        self.count = count
        self.seed = seed
        self.warm = warm
        self.python = python or _venv_python()
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.rounds = 0

    def __enter__(self) -> PageServer:
        self.process = subprocess.Popen(
            [self.python, str(Path(__file__).resolve()), "serve", "--count", str(self.count),
             "--seed", str(self.seed)] + (["--warm"] if self.warm else []),
            stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.process.kill()
            raise RuntimeError(f"the page server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()

    def url(self, index: int) -> str:
        return url_for(index, self.port)

    def _control(self, action: str, **query: object) -> Any:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        url = f"http://127.0.0.1:{self.port}/_bench/{action}" + (f"?{qs}" if qs else "")
        with urllib.request.urlopen(url, timeout=600) as response:  # loopback only
            return json.loads(response.read())

    def edit(self, fraction: float, round_: int | None = None) -> list[int]:
        """Edit ``fraction`` of the pages (new text, ETag and Last-Modified); the same
        ``round_`` picks the same pages."""
        self.rounds += 1
        chosen = round_ if round_ is not None else self.rounds
        return list(self._control("edit", fraction=fraction, round=chosen))

    def reset(self) -> None:
        self._control("reset")

    def validators(self, on: bool) -> None:
        self._control("validators", on=int(on))

    def stats(self) -> dict[str, float]:
        return dict(self._control("stats"))


def compile_product() -> None:
    """Byte-compile scraper/ before anything is timed, as pip does for an installed
    package (urlwatch's) and as a first run does by itself, unless
    PYTHONDONTWRITEBYTECODE is set: then every timed process would compile our
    modules from source again (~0.05 s each)."""
    import compileall

    compileall.compile_dir(str(ROOT / "scraper"), quiet=1)


def _venv_python() -> str:
    python = VENV_BIN / "python"
    return str(python) if python.exists() else sys.executable


# --- measuring a child process -----------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (the analysis worker is a grandchild, via the
    forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _pss_kb(pid: int) -> int:
    """Proportional set size: resident pages, a shared page split between its sharers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_mb(pid: int) -> float:
    """The memory the daemon costs with its worker processes (forkserver, analysis
    worker, resource tracker): PSS, so pages they share are counted once."""
    return sum(_pss_kb(p) for p in process_tree(pid)) / 1024


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """One finished child process: wall time, CPU time and peak RSS (its own, from wait4)."""

    returncode: int
    wall: float
    cpu: float
    max_rss_mb: float
    output: str
    tree_pss_mb: float = 0.0  # highest PSS of it and its descendants (polled every 0.1 s)


def run_measured(argv: Sequence[str], *, cwd: str | Path | None = None,
                 env: dict[str, str] | None = None, output: Path | None = None) -> ProcessRun:
    """Run ``argv`` to the end; stdout and stderr go to ``output`` (a file) and are returned."""
    out_path = output or Path(os.devnull)
    with open(out_path, "w+b") as out:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Worker processes (the analysis worker, a grandchild via the forkserver) are
        # not in wait4's figure: poll the whole tree's PSS while it runs.
        peak = [0.0]
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], tree_pss_mb(process.pid))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        poller.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace") if output else ""
    return ProcessRun(
        returncode=process.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        output=text,
        tree_pss_mb=peak[0],
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve_main(sys.argv[2:])
    else:
        seed_, index_ = (int(a) for a in [*sys.argv[1:3], "1", "0"][:2])
        sys.stdout.write(make_page(seed_, index_))
