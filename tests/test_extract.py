"""The article extractor: boilerplate out, article content (in all its shapes) in."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from scraper.extract import extract_blocks, extract_page, text_to_page, validate_selector
from scraper.models import Block, ExtractedPage

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "extract"
BENCH_DIR = ROOT.parent / "shared" / "benchmarks" / "article-extraction"
NEWS_URL = "https://courier.example/news/old-mill-bridge"


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def news() -> ExtractedPage:
    return extract_page(load("news_article.html"), url=NEWS_URL)


@pytest.fixture(scope="module")
def blog() -> ExtractedPage:
    return extract_page(load("blog_post.html"), url="https://greenfingers.example/2026/08/x/")


def all_text(blocks: tuple[Block, ...]) -> str:
    return "\n".join(block.text for block in blocks)


def find(blocks: tuple[Block, ...], fragment: str) -> Block:
    matches = [block for block in blocks if fragment in block.text]
    assert matches, f"no block contains {fragment!r}"
    return matches[0]


# --- the article itself ---------------------------------------------------------------


def test_article_paragraphs_come_out_in_page_order(news: ExtractedPage) -> None:
    texts = [b.text for b in news.blocks if b.kind == "paragraph"]
    first = texts.index(find(news.blocks, "Cyclists and walkers crossed").text)
    last = texts.index(find(news.blocks, "public meeting about the next stage").text)
    assert first < last
    assert [b.position for b in news.blocks] == list(range(len(news.blocks)))
    assert find(news.blocks, "rebuild the piers").kind == "paragraph"


def test_headline_and_subheading_kinds_and_levels(news: ExtractedPage) -> None:
    title = find(news.blocks, "Old Mill Bridge reopens")
    assert (title.kind, title.level) == ("title", 1)
    heading = find(news.blocks, "What changes for drivers")
    assert (heading.kind, heading.level) == ("heading", 2)


def test_list_inside_the_article_is_kept(news: ExtractedPage) -> None:
    items = [b.text for b in news.blocks if b.kind == "list_item"]
    assert items == [
        "Buses on route 12 return to their old stop on Mill Lane.",
        "The temporary footbridge near the boatyard will be taken down in May.",
        "Parking on Quay Street is free on weekends until the end of June.",
    ]


def test_one_line_paragraph_is_kept(news: ExtractedPage) -> None:
    assert find(news.blocks, "Finally.").kind == "paragraph"


def test_blockquote_is_kept_as_a_quote(news: ExtractedPage) -> None:
    quote = find(news.blocks, "the town has its heart back")
    assert quote.kind == "quote"


def test_table_gives_one_block_per_row(news: ExtractedPage) -> None:
    rows = [b.text for b in news.blocks if b.kind == "table"]
    assert rows == ["Year | Event", "1841 | Bridge built", "2024 | Closed after the flood"]


def test_caption_and_bylines_get_their_kinds(news: ExtractedPage) -> None:
    assert find(news.blocks, "restored Old Mill Bridge seen from").kind == "caption"
    assert find(news.blocks, "By Mara Linden").kind == "byline"
    assert find(news.blocks, "14 March 2026").kind == "byline"  # a <time>-only line


def test_blog_caption_class_and_entry_meta_byline(blog: ExtractedPage) -> None:
    assert find(blog.blocks, "Seeds drying on a saucer").kind == "caption"
    assert find(blog.blocks, "Posted on 24 August 2026").kind == "byline"


def test_text_cut_by_br_in_a_div_gives_paragraphs(blog: ExtractedPage) -> None:
    first = find(blog.blocks, "Late August is when I save seeds")
    second = find(blog.blocks, "The method is simple")
    assert first is not second
    assert first.kind == second.kind == "paragraph"
    assert find(blog.blocks, "One warning: seeds from hybrid").kind == "paragraph"


def test_single_link_paragraph_is_a_link_line_with_absolute_href(news: ExtractedPage) -> None:
    line = find(news.blocks, "Council unveils new flood defences plan")
    assert line.kind == "link_line"
    assert line.href == "https://courier.example/news/flood-defences-plan"


def test_plain_paragraphs_carry_no_href(news: ExtractedPage) -> None:
    assert all(b.href is None for b in news.blocks if b.kind != "link_line")


def test_section_front_without_an_article_keeps_its_teasers() -> None:
    html = (
        "<html><body><nav><a href='/'>Home</a></nav><main>"
        "<h2><a href='/ferry'>Ferry strike called</a></h2><p>Crews walk out.</p>"
        "<h2><a href='/library'>Library wins award</a></h2><p>Judges praise windows.</p>"
        "</main><footer><p>Island Times</p></footer></body></html>"
    )
    blocks = extract_blocks(html, url="https://times.example/front")
    assert [(b.kind, b.text, b.href) for b in blocks] == [
        ("heading", "Ferry strike called", "https://times.example/ferry"),
        ("paragraph", "Crews walk out.", None),
        ("heading", "Library wins award", "https://times.example/library"),
        ("paragraph", "Judges praise windows.", None),
    ]


# --- boilerplate ----------------------------------------------------------------------

NEWS_BOILERPLATE = {
    "nav": ["Weather", "Business"],
    "cookie_banner": ["We use cookies", "Manage preferences"],
    "share_buttons": ["Share on Facebook", "Email this story", "Share this article", "WhatsApp"],
    "related_list": ["Ferry timetable changes", "Harbour wall repairs"],
    "most_read_list": ["Lighthouse keeper retires", "Saturday market moves"],
    "newsletter_box": ["Morning Briefing", "Sign up for our free newsletter"],
    "comments": ["RiverWatcher", "About time too", "Lovely job on the stonework"],
    "footer": ["All rights reserved", "Privacy"],
    "hidden_elements": ["hidden with an inline style", "hidden attribute", "assistive tech"],
    "script_and_style": ["SCRIPT TEXT", "STYLE TEXT", "dataLayer"],
    "noscript_and_template": ["enable JavaScript", "Template text"],
    "ad_slot": ["Advertisement"],
    "recommended_promo": ["Recommended for you", "walking tour of the old harbour"],
    "page_header": ["Live: storm warnings"],
    "article_footer_tags": ["Topics:"],
}


@pytest.mark.parametrize("markers", NEWS_BOILERPLATE.values(), ids=NEWS_BOILERPLATE.keys())
def test_news_boilerplate_does_not_leak(news: ExtractedPage, markers: list[str]) -> None:
    html = load("news_article.html")
    text = all_text(news.blocks)
    for marker in markers:
        assert marker in html  # the fixture really carries it
        assert marker not in text


BLOG_BOILERPLATE = {
    "share_plugin": ["Share this:", "Twitter"],
    "comments_area": ["thoughts on this post", "cherry tomatoes"],
    "sidebar_widgets": ["Recent posts", "glut of runner beans", "About me"],
    "menu": ["Archive"],
    "site_info": ["Proudly powered"],
}


@pytest.mark.parametrize("markers", BLOG_BOILERPLATE.values(), ids=BLOG_BOILERPLATE.keys())
def test_blog_boilerplate_does_not_leak(blog: ExtractedPage, markers: list[str]) -> None:
    text = all_text(blog.blocks)
    for marker in markers:
        assert marker in load("blog_post.html")
        assert marker not in text


def test_a_page_without_article_markup_still_finds_the_body() -> None:
    paragraphs = "".join(
        f"<p>Paragraph {i} of the story tells how the harbour committee met again on a wet "
        f"Thursday evening and argued about the new moorings for a long time.</p>"
        for i in range(5)
    )
    html = (
        "<html><body><div class='top'><a href='/a'>Home</a> <a href='/b'>World</a> "
        "<a href='/c'>Local news and events</a></div>"
        f"<div class='wrap'><div class='col'>{paragraphs}</div>"
        "<div class='col2'><ul><li><a href='/x'>Another story entirely</a></li>"
        "<li><a href='/y'>And one more story here</a></li></ul></div></div></body></html>"
    )
    blocks = extract_blocks(html)
    assert [b.text[:11] for b in blocks] == [f"Paragraph {i}" for i in range(5)]
    assert all(b.container == "" for b in blocks)


# --- several articles on one page -----------------------------------------------------


def test_two_articles_give_two_containers_with_their_titles() -> None:
    page = extract_page(load("two_articles.html"))
    titles = [b for b in page.blocks if b.kind == "title"]
    assert [t.text for t in titles] == [
        "Orchard growers count the cost of the late frost",
        "Valley rail line to run late trains on summer weekends",
    ]
    first, second = titles[0].container, titles[1].container
    assert first and second and first != second
    assert find(page.blocks, "Apple and pear growers").container == first
    assert find(page.blocks, "Insurance claims expected").container == first
    assert find(page.blocks, "The regional rail operator").container == second
    # Both bodies, in page order: the first article is not dropped for the second.
    positions = [b.position for b in page.blocks if b.container == first]
    assert max(positions) < min(b.position for b in page.blocks if b.container == second)


def test_teaser_card_and_feed_labels_are_not_stories() -> None:
    page = extract_page(load("two_articles.html"))
    text = all_text(page.blocks)
    assert "Market square fountain" not in text
    assert "Up next" not in text
    assert "Share" not in text
    assert len({b.container for b in page.blocks}) == 2


LONG_STORY = "".join(
    f"<p>Paragraph {i} of the long story: the harbour board voted again on Thursday to "
    f"delay the dredging contract, citing costs that rose by a fifth over the winter.</p>"
    for i in range(12)
)
BRIEF = (
    "<p>The lifeboat station opens its doors to visitors on Sunday afternoon, with tours of "
    "the boathouse every half hour and a launch demonstration at three o'clock.</p>"
    "<p>Entry is free and donations go to the station's new crew room.</p>"
)


def test_a_short_appended_article_is_kept_beside_a_long_one() -> None:
    html = (
        "<html><body><main>"
        f"<article><h1>Dredging delayed again</h1>{LONG_STORY}</article>"
        f"<article><h1>Lifeboat open day on Sunday</h1>{BRIEF}</article>"
        "</main></body></html>"
    )
    blocks = extract_blocks(html)
    long_title = find(blocks, "Dredging delayed again")
    brief_title = find(blocks, "Lifeboat open day")
    assert brief_title.kind == "title"
    assert find(blocks, "lifeboat station opens").container == brief_title.container
    assert long_title.container != brief_title.container


def test_an_appended_story_without_article_markup_gets_its_own_container() -> None:
    html = (
        "<html><body><div class='feed'>"
        f"<article><h1>Dredging delayed again</h1>{LONG_STORY}</article>"
        f"<div class='next'><div class='post-content'><h2>Lifeboat open day on Sunday</h2>"
        f"{BRIEF}</div></div>"
        "</div></body></html>"
    )
    blocks = extract_blocks(html)
    first = find(blocks, "Paragraph 0 of the long story").container
    second = find(blocks, "lifeboat station opens").container
    assert first and second and first != second
    assert find(blocks, "Lifeboat open day on Sunday").container == second


def test_an_articles_own_header_is_not_page_furniture() -> None:
    html = (
        "<html><body><header><a href='/'>Harbour Post</a></header><main>"
        "<h1>Dredging delayed again</h1><article><header><span class='byline'>By Ada Quill"
        f"</span> <time>3 May 2026</time></header>{LONG_STORY}</article></main></body></html>"
    )
    blocks = extract_blocks(html)
    assert find(blocks, "By Ada Quill").kind == "byline"
    title = find(blocks, "Dredging delayed again")
    assert title.kind == "title"
    # The headline sits above its <article>: it still belongs to that story.
    assert title.container == find(blocks, "Paragraph 0 of the long story").container != ""
    assert "Harbour Post" not in all_text(blocks)


def test_single_article_blocks_share_one_container(news: ExtractedPage) -> None:
    containers = {b.container for b in news.blocks}
    assert containers == {"article-1"}


# --- include / exclude / selectors ----------------------------------------------------


def test_include_keeps_only_content_under_the_selectors() -> None:
    blocks = extract_blocks(load("news_article.html"), include=(".story-body",))
    text = all_text(blocks)
    assert "Cyclists and walkers crossed" in text
    assert "Old Mill Bridge reopens" not in text  # the headline is outside .story-body
    assert "restored Old Mill Bridge" not in text


def test_include_of_a_box_that_is_usually_boilerplate_is_honoured() -> None:
    blocks = extract_blocks(load("news_article.html"), include=(".most-read",))
    assert [b.text for b in blocks if b.kind != "heading"] == [
        "Lighthouse keeper retires after forty years on the rock",
        "Saturday market moves indoors for the winter months",
    ]
    assert {b.kind for b in blocks} == {"heading", "link_line"}


def test_include_with_several_selectors_keeps_page_order() -> None:
    blocks = extract_blocks(load("two_articles.html"), include=("article + article", "h1"))
    titles = [b.text for b in blocks if b.kind == "title"]
    assert titles[0].startswith("Orchard growers")
    assert titles[1].startswith("Valley rail line")
    assert len(titles) == 2  # the second h1 is inside the included article: not repeated


def test_exclude_removes_matching_elements_first() -> None:
    blocks = extract_blocks(load("news_article.html"), exclude=("table", "blockquote", "h2"))
    kinds = {b.kind for b in blocks}
    assert "table" not in kinds and "quote" not in kinds
    assert "What changes for drivers" not in all_text(blocks)
    assert "Cyclists and walkers crossed" in all_text(blocks)


@pytest.mark.parametrize("selector", ["p[", "div >", "", "   ", "a,,b", ":contains(x)"])
def test_invalid_selector_raises_value_error_naming_it(selector: str) -> None:
    with pytest.raises(ValueError, match="invalid CSS selector") as caught:
        validate_selector(selector)
    assert repr(selector) in str(caught.value)


def test_valid_selectors_pass_validation() -> None:
    for selector in ("article .body > p", "#main", "div[data-x='1']", "p:nth-child(2)"):
        assert validate_selector(selector) is None


@pytest.mark.parametrize("option", ["include", "exclude"])
def test_extract_page_rejects_an_invalid_selector(option: str) -> None:
    with pytest.raises(ValueError, match=r"'p\['"):
        extract_page("<p>text</p>", **{option: ("p[",)})


# --- metadata -------------------------------------------------------------------------


def test_title_prefers_og_title(news: ExtractedPage, blog: ExtractedPage) -> None:
    assert news.title == "Old Mill Bridge reopens after two years of repairs"
    # Without og:title: the <title>, entities decoded.
    assert blog.title == "Notes from the allotment: saving tomato seeds \u2013 Greenfingers Diary"


def test_json_ld_graph_gives_the_news_article(news: ExtractedPage) -> None:
    assert len(news.articles) == 1
    article = news.articles[0]
    assert article.headline == "Old Mill Bridge reopens after two years of repairs"
    assert article.url == NEWS_URL  # from mainEntityOfPage
    assert article.body is not None
    assert article.body.splitlines() == [
        "Cyclists and walkers crossed the Old Mill Bridge on Tuesday morning.",
        "The council said the work came in under budget.",
    ]


def test_json_ld_list_is_read_and_broken_json_ignored(blog: ExtractedPage) -> None:
    # The first script has a trailing comma (invalid JSON): skipped, not fatal.
    assert [a.headline for a in blog.articles] == ["Saving tomato seeds & other small jobs"]
    assert blog.articles[0].body == "Late August is when I save seeds."


def test_json_ld_shapes() -> None:
    html = """<html><head>
    <script type="application/ld+json">{not json at all</script>
    <script type="application/ld+json"><!-- {"@type": "Article", "headline": "In a comment"} -->
    </script>
    <script type="application/ld+json">{"@type": "WebPage", "mainEntity":
      {"@type": "ReportageNewsArticle", "headline": "Nested", "url": "https://n.example/a"}};</script>
    <script type="application/ld+json">{"@type": "Recipe", "name": "Not an article"}</script>
    <script type="application/ld+json">[]</script>
    </head><body><p>x</p></body></html>"""
    articles = extract_page(html).articles
    assert [(a.headline, a.url) for a in articles] == [
        ("In a comment", None),
        ("Nested", "https://n.example/a"),
    ]


def test_page_without_json_ld_has_no_articles() -> None:
    assert extract_page("<html><body><p>Hello there.</p></body></html>").articles == ()


# --- odd inputs and the plain-text path -----------------------------------------------


@pytest.mark.parametrize(("html", "texts"), [
    ("", []), ("<html></html>", []), ("<p></p>", []),
    ("just text, no tags", ["just text, no tags"]),
])
def test_degenerate_pages_do_not_fail(html: str, texts: list[str]) -> None:
    page = extract_page(html)
    assert [b.text for b in page.blocks] == texts
    assert [b.position for b in page.blocks] == list(range(len(page.blocks)))


def test_extract_blocks_is_extract_page_blocks() -> None:
    html = load("news_article.html")
    assert extract_blocks(html, url=NEWS_URL) == extract_page(html, url=NEWS_URL).blocks


def test_text_to_page_makes_one_block_per_line() -> None:
    page = text_to_page("First line\n\n  - an item \nhttps://example.org/x\nLast   line\n")
    assert [(b.kind, b.text, b.position) for b in page.blocks] == [
        ("paragraph", "First line", 0),
        ("list_item", "- an item", 1),
        ("link_line", "https://example.org/x", 2),
        ("paragraph", "Last line", 3),
    ]
    assert page.blocks[2].href == "https://example.org/x"


# --- the benchmark script -------------------------------------------------------------


def load_bench() -> ModuleType:
    path = ROOT / "bench" / "extraction.py"
    spec = importlib.util.spec_from_file_location("bench_extraction", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while decorating
    spec.loader.exec_module(module)
    return module


def test_bench_metric_on_hand_made_texts() -> None:
    bench = load_bench()
    assert bench.page_scores("one two three four five", "one two three four five") == (1.0, 1.0)
    assert bench.page_scores("", "one two three four") == (None, 0.0)
    precision, recall = bench.page_scores("one two three four", "one two three four five six")
    assert precision == 1.0 and recall == pytest.approx(1 / 3)


@pytest.mark.skipif(not BENCH_DIR.is_dir(), reason="shared benchmark folder not present")
def test_bench_scores_a_few_real_pages() -> None:
    bench = load_bench()
    scores = bench.run(BENCH_DIR, limit=3, trafilatura=False)
    ours = scores[0]
    assert ours.pages == 3
    assert 0.5 < ours.f1 <= 1.0  # the extractor finds most of these bodies
    assert ours.ms_mean > 0
    assert "scraper.extract" in bench.format_table(scores)


def test_empty_table_cells_leave_single_separators() -> None:
    html = ("<html><body><article><h1>Results</h1><table><tr><td>Name</td><td></td><td></td>"
            "<td>Score</td></tr><tr><td>Ana</td><td></td><td></td><td></td><td>9</td></tr>"
            "</table></article></body></html>")
    rows = [b.text for b in extract_page(html).blocks if b.kind == "table"]
    assert rows == ["Name | Score", "Ana | 9"]
