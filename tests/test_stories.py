"""The story splitter: deduplication, story boundaries, teasers, fingerprints, renderings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scraper.extract import extract_page, text_to_page
from scraper.models import ArticleMeta, Block, BlockKind, ExtractedPage
from scraper.stories import (
    NEAR_DISTANCE,
    fingerprint_text,
    hamming,
    render_split_json,
    render_split_text,
    split_stories,
)

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_bcce254d7bf22341.txt"

# Invented stories. FERRY and FERRY_FOLLOW_UP share a topic (a ferry strike in a fictional
# port) but not their sentences; GALLERY is about something else entirely.
FERRY = [
    "PORT HALLOW: Ferry crews in Port Hallow went on strike on Monday morning, stranding "
    "hundreds of commuters on both sides of the estuary after pay talks with the ferry "
    "company collapsed.",
    "The crews' union said its members had rejected the ferry company's offer of a two per "
    "cent pay rise because it did not keep pace with the cost of living in Port Hallow.",
    "Commuters queued at the bus station within an hour of the first cancelled ferry, and "
    "the council opened the old road bridge across the estuary to pedestrians.",
    "Shopkeepers on the Port Hallow quay said trade had halved by lunchtime as the strike "
    "kept ferry passengers away. One café owner sent two of her staff home.",
    "The ferry company said it was disappointed that the crews had chosen to strike while "
    "pay talks with the union were still under way, and urged them to return.",
    "The harbour authority said emergency ferry crossings of the estuary for ambulances "
    "would continue during the strike, with managers standing in for the crews.",
    "Parents of pupils at the school across the estuary were told that children could "
    "study from home until the ferry strike was over.",
    "Port Hallow councillors from all parties called for independent arbitration between "
    "the union and the ferry company, saying the town could not afford a long strike.",
    "The last ferry strike in Port Hallow, nine years ago, lasted eleven days and ended "
    "with a pay deal brokered by the regional mayor.",
    "The union said the crews would strike again on Thursday unless the ferry company made "
    "a better pay offer.",
]
FERRY_FOLLOW_UP = [
    "PORT HALLOW: Ferry services across the Hallow estuary resumed on Friday after the "
    "union accepted a revised pay deal worth four per cent over eighteen months.",
    "The agreement was reached shortly before midnight at a hotel near the terminal, "
    "according to two people who were present at the final round of talks.",
    "Commuters cheered as the first boat of the morning pulled away from the slipway, "
    "although timetables were expected to remain patchy until the weekend.",
    "The union's regional organiser said the deal recognised the skill and long hours of "
    "the crews and would make it easier to recruit younger deckhands.",
    "Company managers said the cost of the settlement would be met from savings on fuel "
    "after two older vessels were replaced with hybrid boats last year.",
    "Traders on the quay said they hoped visitors would return quickly now that the "
    "service was running, and several planned a weekend market to win them back.",
    "Councillors welcomed the agreement but said the town needed a second crossing so "
    "that a single dispute could not cut it in two again.",
    "The harbour authority said it would publish a review of the emergency arrangements "
    "used during the strike, including the skeleton crossings for ambulances.",
    "School leaders said pupils who had been studying from home would return to classes on "
    "Monday, with extra lessons offered to those preparing for exams.",
    "Both sides agreed to meet again in the spring to discuss rosters and training.",
]
GALLERY = [
    "The city gallery reopened its restored east wing on Saturday, three years after a leak "
    "in the roof forced curators to close the rooms and move the paintings into storage.",
    "Visitors queued along the river path to see the wing's painted ceiling, which "
    "conservators had hidden behind scaffolding while the roof of the gallery was rebuilt.",
    "The conservators removed layers of varnish from the ceiling, revealing colours in the "
    "painting that gallery staff said had not been seen for generations.",
    "The ceiling painting shows the river, the old market and the cathedral, and was "
    "commissioned for the gallery by the city's merchants when the east wing was built.",
    "Curators have rehung the wing with paintings from the gallery's own collection, "
    "including landscapes of the river that had been in storage during the restoration.",
    "The gallery director said the restoration of the east wing had cost more than the "
    "gallery had planned, and thanked the families whose donations paid for the ceiling.",
    "Entry to the restored wing will be free for the first month, the gallery said, and "
    "conservators will give talks about the ceiling painting every weekend.",
]


def block(kind: BlockKind, text: str, position: int, container: str = "", level: int = 0,
          href: str | None = None) -> Block:
    return Block(kind=kind, text=text, position=position, container=container, level=level,
                 href=href)


def page_of(*specs: tuple[str, str] | tuple[str, str, str], articles: tuple[ArticleMeta, ...] = ()
            ) -> ExtractedPage:
    """Blocks from (kind, text[, container]) triples, numbered in order."""
    blocks = []
    for n, spec in enumerate(specs):
        kind, text, *rest = spec
        level = 1 if kind == "title" else 2 if kind == "heading" else 0
        blocks.append(block(kind, text, n, rest[0] if rest else "", level))  # type: ignore[arg-type]
    return ExtractedPage(blocks=tuple(blocks), articles=articles)


# --- the seed dump -------------------------------------------------------------------------


def test_seed_splits_into_its_two_stories_with_repeats_dropped() -> None:
    text = SEED.read_text(encoding="utf-8")
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    split = split_stories(text_to_page(text))

    assert [s.title for s in split.stories] == [
        "Cross-border raid fuels calls for Russia to arm its self-defense forces",
        "Venezuela begins \u2018large\u2019 prisoner release amid US pressure",
    ]
    a, b = split.stories
    # Story A: the fifteen lines above its trailing title block, in order.
    assert a.paragraphs == tuple(lines[:15])
    # Story B: from the dateline to the end, crossheads included, bullets above it not.
    start_b = next(i for i, line in enumerate(lines) if line.startswith("CARACAS:"))
    assert b.paragraphs == tuple(lines[start_b:])
    assert "- Trump rebuked by Senate -" in b.paragraphs
    assert "- Millions of barrels of crude -" in b.paragraphs
    assert split.mixed

    reasons = {d.text: d.reason for d in split.dropped}
    assert reasons["https://arab.news/bpvbj"] == "short link"
    assert reasons[a.title or ""].startswith("repeats title 'Cross-border raid")
    bullets = [line for line in lines[15:start_b] if line.startswith("- ")]
    assert len(bullets) == 4
    for bullet in bullets:
        assert reasons[bullet].startswith("restates a sentence of paragraph"), bullet
    # A's bullets restate A's paragraphs, B's bullets B's ("US-made" / "U.S.-made" and
    # "defense" / "defence" are near copies).
    assert reasons[bullets[0]] == "restates a sentence of paragraph 2 of story 1"
    assert reasons[bullets[2]] == "restates a sentence of paragraph 2 of story 2"
    assert len(split.dropped) == 6
    assert split.teasers == ()


# --- fingerprints --------------------------------------------------------------------------


def test_one_sentence_edit_keeps_the_story_within_near_distance() -> None:
    edited = list(FERRY)
    edited[4] = ("The ferry company said it regretted the walkout and remained open to further "
                 "talks at any time, with or without a mediator.")
    before, after = fingerprint_text(FERRY), fingerprint_text(edited)
    assert before.exact != after.exact
    assert 0 < hamming(before.simhash, after.simhash) <= NEAR_DISTANCE


def test_different_stories_on_the_same_topic_are_far_apart() -> None:
    a, b = fingerprint_text(FERRY), fingerprint_text(FERRY_FOLLOW_UP)
    assert hamming(a.simhash, b.simhash) > NEAR_DISTANCE + 4
    assert hamming(a.simhash, fingerprint_text(GALLERY).simhash) > NEAR_DISTANCE


def test_exact_hash_ignores_whitespace_quote_and_dash_style() -> None:
    plain = ["He said: 'we're done' - and left.", "It was  over."]
    fancy = ["He said: \u2018we\u2019re done\u2019 \u2014 and left.", "It  was over.\n"]
    joined = ["He said: \"we're done\" \u2013 and left. It was over."]
    assert fingerprint_text(plain) == fingerprint_text(fancy) == fingerprint_text(joined)
    assert fingerprint_text(plain).exact != fingerprint_text(["He said: we're done."]).exact
    assert len(fingerprint_text(plain).exact) == 32  # blake2b, 16 bytes, hex


def test_hamming_counts_differing_bits() -> None:
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, (1 << 64) - 1) == 64


def test_story_id_is_the_simhash_in_hex() -> None:
    split = split_stories(page_of(("title", "Ferry strike"), *(("paragraph", p) for p in FERRY)))
    (story,) = split.stories
    assert story.id == f"{fingerprint_text(FERRY).simhash:016x}"
    assert len(story.id) == 16


# --- splitting hand-made pages -------------------------------------------------------------


def test_two_article_containers_are_two_stories() -> None:
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow", "a1"),
        ("byline", "By A. Writer", "a1"),
        *(("paragraph", p, "a1") for p in FERRY[:4]),
        ("title", "Ferries sail again after pay deal", "a2"),
        *(("paragraph", p, "a2") for p in FERRY_FOLLOW_UP[:4]),
    )
    split = split_stories(page)
    assert [s.title for s in split.stories] == [
        "Ferry crews walk out in Port Hallow", "Ferries sail again after pay deal"]
    assert [s.paragraphs for s in split.stories] == [tuple(FERRY[:4]), tuple(FERRY_FOLLOW_UP[:4])]
    assert ("By A. Writer", "byline, not body") in {(d.text, d.reason) for d in split.dropped}


def test_a_title_outside_the_article_element_heads_it() -> None:
    page = page_of(("title", "Ferry crews walk out"), *(("paragraph", p, "body") for p in FERRY))
    (story,) = split_stories(page).stories
    assert story.title == "Ferry crews walk out"
    assert story.paragraphs == tuple(FERRY)


def test_a_crosshead_inside_one_article_stays_in_the_story() -> None:
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow", "a1"),
        *(("paragraph", p, "a1") for p in FERRY[:5]),
        ("heading", "Schools and shops hit", "a1"),
        *(("paragraph", p, "a1") for p in FERRY[5:]),
    )
    (story,) = split_stories(page).stories
    assert story.paragraphs == (*FERRY[:5], "Schools and shops hit", *FERRY[5:])


def test_crossheads_without_containers_stay_in_the_story() -> None:
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow"),
        *(("paragraph", p) for p in FERRY[:4]),
        ("heading", "Shops"),
        *(("paragraph", p) for p in FERRY[4:7]),
        ("heading", "What happens next?"),
        *(("paragraph", p) for p in FERRY[7:]),
    )
    (story,) = split_stories(page).stories
    assert len(story.paragraphs) == len(FERRY) + 2


def test_a_headline_length_heading_across_a_topic_shift_starts_a_story() -> None:
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow"),
        *(("paragraph", p) for p in FERRY),
        ("heading", "City gallery reopens its restored east wing"),
        *(("paragraph", p) for p in GALLERY),
    )
    split = split_stories(page)
    assert [s.title for s in split.stories] == [
        "Ferry crews walk out in Port Hallow", "City gallery reopens its restored east wing"]
    assert split.stories[1].paragraphs == tuple(GALLERY)


def test_a_teaser_list_is_not_a_story() -> None:
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow", "a1"),
        *(("paragraph", p, "a1") for p in FERRY),
        ("heading", "Most read"),
        ("link_line", "Gallery reopens its east wing after restoration"),
        ("paragraph", "Visitors queued along the river path."),
        ("link_line", "Harbour authority reviews emergency crossings"),
        ("link_line", "Port Hallow market returns for the summer"),
        ("paragraph", "Stalls will line the quay every Saturday."),
    )
    split = split_stories(page)
    assert len(split.stories) == 1
    assert split.stories[0].paragraphs == tuple(FERRY)
    assert split.teasers == (
        "Gallery reopens its east wing after restoration",
        "Harbour authority reviews emergency crossings",
        "Port Hallow market returns for the summer",
    )
    reasons = {d.text: d.reason for d in split.dropped}
    assert reasons["Most read"] == "teaser list heading"
    assert reasons["Visitors queued along the river path."] == "teaser blurb"


def test_unmarked_teasers_in_a_text_dump_are_not_stories() -> None:
    text = "\n".join([
        "Ferry crews walk out in Port Hallow", *FERRY,
        "Gallery reopens its east wing after restoration", "Visitors queued for hours.",
        "Harbour authority reviews emergency crossings", "A report is due in May.",
        "Port Hallow market returns for the summer", "Stalls will line the quay.",
    ])
    split = split_stories(text_to_page(text))
    assert len(split.stories) == 1
    assert len(split.teasers) == 3


def test_jsonld_headlines_mark_stories_and_give_urls() -> None:
    articles = (
        ArticleMeta("Ferry crews walk out in Port Hallow", "https://example.test/strike"),
        ArticleMeta("Ferries sail again after pay deal", "https://example.test/deal"),
    )
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow"),
        *(("paragraph", p) for p in FERRY[:5]),
        # same topic, no dateline, a short heading: only JSON-LD says it is a new story
        ("heading", "Ferries sail again after pay deal"),
        *(("paragraph", p.removeprefix("PORT HALLOW: ")) for p in FERRY_FOLLOW_UP[:5]),
        articles=articles,
    )
    split = split_stories(page)
    assert [(s.title, s.url) for s in split.stories] == [
        ("Ferry crews walk out in Port Hallow", "https://example.test/strike"),
        ("Ferries sail again after pay deal", "https://example.test/deal"),
    ]


def test_a_dateline_starts_a_story_in_a_text_dump() -> None:
    # No title line between the stories: the dateline is the only marker.
    text = "\n".join([*FERRY, *FERRY_FOLLOW_UP])
    split = split_stories(text_to_page(text))
    assert [s.paragraphs for s in split.stories] == [tuple(FERRY), tuple(FERRY_FOLLOW_UP)]
    assert [s.title for s in split.stories] == [None, None]


def test_wire_datelines_are_recognised() -> None:
    text = "\n".join([
        "Ferry strike ends", *FERRY[1:],
        "LONDON (Reuters) - The gallery said on Saturday it would reopen its east wing.",
        *GALLERY[1:],
    ])
    split = split_stories(text_to_page(text))
    assert len(split.stories) == 2
    assert split.stories[1].paragraphs[0].startswith("LONDON (Reuters) -")


def test_a_trailing_title_block_without_bullets_closes_its_story() -> None:
    # "body A / title A / short link / title A / title B / body B": no restating bullets
    # say where title A belongs; its words do.
    text = "\n".join([
        *GALLERY,
        "Gallery reopens restored east wing with painted ceiling",
        "https://gal.example/x1",
        "Gallery reopens restored east wing with painted ceiling",
        "Ferry crews strike in Port Hallow over pay",
        *FERRY,
    ])
    split = split_stories(text_to_page(text))
    assert [(s.title, s.paragraphs) for s in split.stories] == [
        ("Gallery reopens restored east wing with painted ceiling", tuple(GALLERY)),
        ("Ferry crews strike in Port Hallow over pay", tuple(FERRY)),
    ]


def test_a_link_line_inside_a_story_is_a_teaser_and_the_story_goes_on() -> None:
    page = page_of(
        ("title", "Ferry crews walk out in Port Hallow", "a1"),
        *(("paragraph", p, "a1") for p in FERRY[:5]),
        ("link_line", "READ MORE: Harbour authority reviews emergency crossings", "a1"),
        *(("paragraph", p, "a1") for p in FERRY[5:]),
    )
    split = split_stories(page)
    assert [s.paragraphs for s in split.stories] == [tuple(FERRY)]
    assert split.teasers == ("READ MORE: Harbour authority reviews emergency crossings",)


def test_page_furniture_is_dropped_with_reasons() -> None:
    page = page_of(
        ("heading", "Politics"),
        ("title", "Ferry crews walk out in Port Hallow"),
        ("byline", "By A. Writer"),
        ("paragraph", "Published 2:16 AM EST Nov 20, 2019"),
        ("caption", "Crews on the slipway."),
        ("paragraph", "The quay on Monday (Image: Harbour Pictures)"),
        *(("paragraph", p) for p in FERRY),
        ("paragraph", "\u00a9 2026 The Port Hallow Courier"),
        ("link_line", "Share"),
    )
    split = split_stories(page)
    assert [(s.title, s.paragraphs) for s in split.stories] == [
        ("Ferry crews walk out in Port Hallow", tuple(FERRY))]
    assert [d.reason for d in split.dropped] == [
        "label above the title", "byline, not body", "byline, not body", "caption, not body",
        "caption, not body", "copyright line, not body", "link, not body"]


def test_the_jsonld_headline_titles_an_untitled_single_story() -> None:
    page = page_of(*(("paragraph", p) for p in FERRY),
                   articles=(ArticleMeta("Ferry strike", "https://example.test/f"),))
    (story,) = split_stories(page).stories
    assert (story.title, story.url) == ("Ferry strike", "https://example.test/f")


def test_a_bullet_restating_a_body_sentence_is_dropped() -> None:
    bullet = ("- The union said its members had rejected an offer of a two percent rise "
              "because it did not keep pace with the cost of fuel")
    text = "\n".join(["Ferry crews walk out in Port Hallow", bullet, *FERRY])
    split = split_stories(text_to_page(text))
    (story,) = split.stories
    assert bullet not in story.paragraphs
    assert split.dropped[0].text == bullet
    assert split.dropped[0].reason == "restates a sentence of paragraph 2"


def test_a_body_list_is_kept() -> None:
    page = page_of(
        ("title", "Ferry crews walk out"),
        *(("paragraph", p) for p in FERRY[:3]),
        ("paragraph", "The union's demands are:"),
        ("list_item", "a rise that keeps pace with the cost of fuel"),
        ("list_item", "the bridge opened to pedestrians for good"),
        *(("paragraph", p) for p in FERRY[3:]),
    )
    (story,) = split_stories(page).stories
    assert "a rise that keeps pace with the cost of fuel" in story.paragraphs
    assert len(story.paragraphs) == len(FERRY) + 3


def test_unmarked_text_dump_splits_on_a_vocabulary_shift() -> None:
    # No title, no dateline, no markup: only the change of vocabulary separates them.
    ferry = [p.removeprefix("PORT HALLOW: ") for p in FERRY]
    split = split_stories(text_to_page("\n".join([*ferry, *GALLERY])))
    assert [s.paragraphs for s in split.stories] == [tuple(ferry), tuple(GALLERY)]


def test_one_long_unmarked_story_is_not_split() -> None:
    ferry = [
        *(p.removeprefix("PORT HALLOW: ") for p in FERRY),
        "Talks between the union and the ferry company resumed late on Monday at a hotel "
        "near the Port Hallow terminal, a spokesperson for the crews said.",
        "Managers at the ferry company said they could not raise the offer without cutting "
        "the timetable, and warned the crews that the strike was costing them passengers.",
        "By evening the council had laid on extra buses around the estuary, although the "
        "journey takes an hour longer than the ferry.",
        "Crews on the picket line at the Port Hallow slipway said they had support from "
        "commuters, several of whom brought them coffee during the strike.",
    ]
    split = split_stories(text_to_page("\n".join(ferry)))
    assert [s.paragraphs for s in split.stories] == [tuple(ferry)]


def test_a_page_with_no_full_story_is_still_one_story() -> None:
    split = split_stories(page_of(("title", "Notice"), ("paragraph", "The office is closed.")))
    assert [(s.title, s.paragraphs) for s in split.stories] == [
        ("Notice", ("The office is closed.",))]


def test_an_empty_page_has_no_stories() -> None:
    split = split_stories(ExtractedPage(blocks=()))
    assert split.stories == ()
    assert not split.mixed


# --- issue 14: the failure classes, on invented pages in the shapes real sites use --------


def _dump(*lines: str) -> ExtractedPage:
    return text_to_page("\n".join(lines))


def test_crossheads_and_recipe_sections_in_a_dump_stay_in_their_story() -> None:
    # Headline-shaped lines inside one article: a crosshead, a "- crosshead -", a section
    # label and an inline related headline; the story's vocabulary runs on across them.
    body = [*FERRY[:3], "Talks collapse at the terminal", *FERRY[3:6],
            "- What the council said -", *FERRY[6:8], "Port Hallow ferry timetable",
            *FERRY[8:]]
    split = split_stories(_dump("Ferry crews walk out in Port Hallow", *body))
    assert [(s.title, s.paragraphs) for s in split.stories] == [
        ("Ferry crews walk out in Port Hallow", tuple(body))]


LIFEBOAT = [
    "The Port Hallow lifeboat was launched forty times this autumn, more than in any autumn "
    "since the station opened, its coxswain Ewan Marsh said on Sunday.",
    "Most of the calls came from walkers cut off by the tide below the Hallow cliffs, and "
    "from small yachts caught in the October gales.",
    "Marsh, who has crewed the Port Hallow lifeboat for twenty-two years, said the busiest "
    "week brought nine launches in six days.",
    "A new life for the old boathouse on the quay",
    "The Victorian boathouse, empty since the station moved to the breakwater, will become a "
    "museum of the Hallow lifeboat next spring.",
    "Volunteers have catalogued photographs, logbooks and medals going back to the first "
    "rowing lifeboat, which was pulled by eight oarsmen.",
    "Marsh said the museum would tell the stories of crews who never came home, including "
    "the six men lost in the storm of 1911.",
    "Why the station needs younger volunteers now",
    "Half of the Port Hallow crew are over fifty, and Marsh said training new volunteers "
    "takes two years before they can go out in heavy seas.",
    "The station will hold an open evening at the breakwater on Thursday for anyone who "
    "wants to join the Hallow lifeboat crew.",
    "Marsh said the crew needed mechanics, navigators and shore helpers as much as people "
    "willing to go to sea.",
]


def test_headline_length_subheads_of_a_feature_stay_in_it() -> None:
    # Subheads of six words and more, each section with words of its own: the people and
    # places of the whole segments on either side (Marsh, Port Hallow) are shared.
    split = split_stories(_dump("Lifeboat crew marks its busiest autumn in twenty years",
                                *LIFEBOAT))
    assert [s.paragraphs for s in split.stories] == [tuple(LIFEBOAT)]
    # ... while the same subheads between two different stories do not glue them.
    split = split_stories(_dump(*GALLERY, *LIFEBOAT))
    assert [s.paragraphs for s in split.stories] == [tuple(GALLERY), tuple(LIFEBOAT)]


def test_a_summary_bullet_stays_with_the_story_it_restates() -> None:
    bullet = "- The crews' union said its members had rejected the ferry company's offer"
    split = split_stories(_dump(
        *GALLERY,
        "Ferry crews walk out in Port Hallow", "https://ph.example/f1", bullet,
        *FERRY,
    ))
    assert [s.paragraphs for s in split.stories] == [tuple(GALLERY), tuple(FERRY)]
    reasons = {d.text: d.reason for d in split.dropped}
    assert reasons[bullet] == "restates a sentence of paragraph 2 of story 2"


def test_an_in_body_list_in_a_dump_is_not_a_teaser_list() -> None:
    entries = ["Pay: a rise of four per cent", "Hours: a 37-hour week",
               "Crews: two more deckhands a boat", "Term: eighteen months"]
    ingredients = ["2 cups plain flour", "1 teaspoon baking soda", "3 large eggs"]
    body = [*FERRY[:3], "The union's demands are:", *entries, *FERRY[3:6], *ingredients,
            *FERRY[6:]]
    split = split_stories(_dump("Ferry crews walk out in Port Hallow", *body))
    assert [s.paragraphs for s in split.stories] == [tuple(body)]
    assert split.teasers == ()


def test_teaser_items_with_bullets_and_a_news_ticker_are_not_story_text() -> None:
    split = split_stories(_dump(
        "Ferry crews walk out in Port Hallow", *FERRY,
        "Read next",
        "Gallery reopens its east wing after three years",
        "- Visitors queued along the river path to see the painted ceiling",
        "- Entry to the restored wing will be free for the first month",
        "Harbour market returns to the quay for the summer",
        "- Stalls will line the quay every Saturday until September",
        "Council approves new cycle lanes on the estuary road",
        "The council voted on Tuesday to paint cycle lanes along the whole estuary ...",
        "Lifeboat crew marks its busiest autumn in twenty years",
        "Volunteers at the Port Hallow lifeboat station were called out forty times ...",
    ))
    assert [s.paragraphs for s in split.stories] == [tuple(FERRY)]
    assert split.teasers == (
        "Gallery reopens its east wing after three years",
        "Harbour market returns to the quay for the summer",
        "Council approves new cycle lanes on the estuary road",
        "Lifeboat crew marks its busiest autumn in twenty years",
    )


def test_short_summary_bullets_and_bylines_in_several_forms_are_dropped() -> None:
    short = "- The crews' union said its members"  # seven words copied from paragraph 2
    for byline in ("Posted by Mara Quill", "By Tom Reed | 3 min read", "Written by Ana Ruiz",
                   "Mara Quill | 4 min read", "Posted by Mara Quill on March 3, 2026"):
        split = split_stories(_dump("Ferry crews walk out in Port Hallow", byline, short,
                                    *FERRY))
        assert [s.paragraphs for s in split.stories] == [tuple(FERRY)], byline
        reasons = {d.text: d.reason for d in split.dropped}
        assert reasons[byline] == "byline, not body"
        assert reasons[short] == "restates a sentence of paragraph 2"


@pytest.mark.parametrize("title", [
    "Will the ferry strike end this week?",
    "Ferry crews walk out in Port Hallow.",
])
def test_a_title_block_makes_a_title_whatever_its_punctuation(title: str) -> None:
    split = split_stories(_dump(*GALLERY, title, "https://ph.example/q", title, *FERRY))
    assert [(s.title, s.paragraphs) for s in split.stories] == [
        (None, tuple(GALLERY)), (title, tuple(FERRY))]
    assert [d.reason for d in split.dropped] == ["short link", f"repeats title '{title}'"]


def test_the_host_survives_a_bigger_article_appended_inside_its_body() -> None:
    longer = [*FERRY, *FERRY_FOLLOW_UP[1:]]
    html = (
        "<html><body><main><article class='post'><h1>Gallery reopens its east wing</h1>"
        "<div class='entry-content'>" + "".join(f"<p>{p}</p>" for p in GALLERY)
        + "<article><h2>Ferry crews walk out in Port Hallow</h2>"
        + "".join(f"<p>{p}</p>" for p in longer) + "</article></div></article></main>"
        "</body></html>"
    )
    split = split_stories(extract_page(html))
    assert [(s.title, s.paragraphs) for s in split.stories] == [
        ("Gallery reopens its east wing", tuple(GALLERY)),
        ("Ferry crews walk out in Port Hallow", tuple(longer)),
    ]


def _with_cards(previous: str, following: str) -> ExtractedPage:
    return _dump("Ferry crews walk out in Port Hallow", *FERRY, "Continue Reading",
                 "Previous post", previous, "Next post", following)


def test_prev_next_cards_are_not_story_text_so_a_new_post_changes_nothing() -> None:
    before = split_stories(_with_cards("Gallery reopens its east wing after three years",
                                       "Is the harbour market worth saving?"))
    after = split_stories(_with_cards("Is the harbour market worth saving?",
                                      "Council approves new cycle lanes on the estuary road"))
    assert [s.paragraphs for s in before.stories] == [tuple(FERRY)]
    assert [s.paragraphs for s in after.stories] == [tuple(FERRY)]
    assert before.stories[0].fingerprint == after.stories[0].fingerprint
    assert "Is the harbour market worth saving?" in before.teasers


def test_a_feature_image_caption_is_not_the_first_paragraph() -> None:
    caption = "Crews on the slipway at dawn on Monday (Photo: Harbour Pictures)"
    split = split_stories(_dump("Ferry crews walk out in Port Hallow", caption, *FERRY))
    assert split.stories[0].paragraphs[0] == FERRY[0]
    html = ("<html><body><article><h1>Ferry crews walk out</h1><figure><img src='/a.jpg'>"
            "<figcaption>Crews on the slipway at dawn</figcaption></figure>"
            + "".join(f"<p>{p}</p>" for p in FERRY) + "</article></body></html>")
    (story,) = split_stories(extract_page(html)).stories
    assert story.paragraphs == tuple(FERRY)


def test_two_stories_without_headlines_split_where_names_and_words_change() -> None:
    # No title, no dateline: the decoder weighs the whole segments on either side.
    ferry = [p.removeprefix("PORT HALLOW: ") for p in FERRY]
    split = split_stories(_dump(*GALLERY, *ferry))
    assert [s.paragraphs for s in split.stories] == [tuple(GALLERY), tuple(ferry)]


def test_the_fitted_weights_match_the_features() -> None:
    from scraper.stories._decode import FEATURES
    from scraper.stories._weights import WEIGHTS_MARKUP, WEIGHTS_PLAIN

    assert len(WEIGHTS_PLAIN) == len(WEIGHTS_MARKUP) == len(FEATURES)


# --- renderings ----------------------------------------------------------------------------


@pytest.fixture
def seed_split():  # type: ignore[no-untyped-def]
    return split_stories(text_to_page(SEED.read_text(encoding="utf-8")))


def test_render_split_json_has_the_public_shape(seed_split) -> None:  # type: ignore[no-untyped-def]
    out = render_split_json("seed.txt", seed_split)
    assert set(out) == {"source", "mixed", "stories", "dropped"}
    assert out["source"] == "seed.txt"
    assert out["mixed"] is True
    assert [set(s) for s in out["stories"]] == [{"id", "title", "paragraphs"}] * 2
    assert out["stories"][0]["id"] == seed_split.stories[0].id
    assert all(isinstance(p, str) for s in out["stories"] for p in s["paragraphs"])
    assert out["dropped"][0] == {"text": "https://arab.news/bpvbj", "reason": "short link"}
    assert json.loads(json.dumps(out)) == out  # plain JSON values only


def test_render_split_json_untitled_story_has_null_title() -> None:
    split = split_stories(text_to_page("\n".join(FERRY)))
    out = render_split_json("x", split)
    assert out["mixed"] is False
    assert out["stories"][0]["title"] is None


def test_render_split_text_lists_stories_teasers_and_drops(seed_split) -> None:  # type: ignore[no-untyped-def]
    text = render_split_text("seed.txt", seed_split)
    assert text.startswith("seed.txt: 2 stories (mixed page)")
    assert "Cross-border raid fuels calls" in text
    assert "15 paragraphs" in text
    assert "DUBAI: A cross-border raid" in text
    assert "short link" in text
    assert "restates a sentence of paragraph 2 of story 1" in text
