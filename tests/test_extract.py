"""The article extractor: boilerplate out, article content (in all its shapes) in."""

from __future__ import annotations

import importlib.util
import json
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


# --- class/id words are evidence, not verdicts (issue 13) ----------------------------


def texts_of(page: ExtractedPage, *kinds: str) -> list[str]:
    return [b.text for b in page.blocks if not kinds or b.kind in kinds]


def test_the_only_content_wrapper_named_share_is_kept() -> None:
    # A WordPress theme's `entry themeform share` holds the whole post; the headline sits
    # outside it, and the sidebar and comments outweigh it in text.
    page = extract_page(load("wp_share_wrapper.html"))
    paragraphs = texts_of(page, "paragraph")
    assert paragraphs[0].startswith("The February floods took out eleven metres")
    assert paragraphs[-1].startswith("The copes went on last")
    assert len(paragraphs) == 6
    assert "Building it back" in texts_of(page, "heading")
    text = all_text(page.blocks)
    for furniture in ("Tweet", "Recent Posts", "Archives", "Moorside Meg", "Batter frames make",
                      "Lime mortar for beginners", "Proudly made"):
        assert furniture in load("wp_share_wrapper.html")
        assert furniture not in text


def test_a_page_of_elementor_widget_blocks_keeps_every_text_widget() -> None:
    page = extract_page(load("elementor_widgets.html"))
    assert texts_of(page, "title") == ["Unser neuer Hofladen ist eröffnet"]
    assert texts_of(page, "heading") == ["Öffnungszeiten"]
    paragraphs = texts_of(page, "paragraph")
    assert [p.split()[0] for p in paragraphs] == ["Nach", "Im", "Geöffnet", "Wer"]
    text = all_text(page.blocks)
    for furniture in ("Neueste Beiträge", "Tomatensorten", "Teilen", "Impressum", "Kontakt"):
        assert furniture not in text


def test_a_forum_thread_of_comment_posts_keeps_every_post() -> None:
    page = extract_page(load("forum_thread.html"))
    paragraphs = texts_of(page, "paragraph")
    assert [p.split()[0] for p in paragraphs] == ["Pulling", "Is", "Sounds", "No", "Check"]
    assert texts_of(page, "title") == ["Clutch judder on a 2009 estate"]
    text = all_text(page.blocks)
    for furniture in ("Similar threads", "Flywheel noise at idle", "Reply", "Report", "Next",
                      "run by volunteers"):
        assert furniture not in text


@pytest.mark.parametrize("names", [
    "sidebar_content",  # a main column named like a sidebar
    "hidden-contents-menu",
    "readmore-body",
    "entry sharing",
    "widget Blog",  # Blogger's post wrapper
    "comment-live post",  # a live ticker's entries
    "cmp-text",
])
def test_a_wrapper_holding_most_of_the_prose_is_kept_whatever_its_name(names: str) -> None:
    html = load("named_wrapper.html").replace("{CLASS}", names)
    page = extract_page(html)
    paragraphs = texts_of(page, "paragraph")
    assert len(paragraphs) == 4
    assert paragraphs[0].startswith("The parish council has reopened")
    assert texts_of(page, "title") == ["Allotment waiting list reopens"]
    text = all_text(page.blocks)
    for furniture in ("Quick links", "Report a pothole", "Upcoming meetings", "Privacy notice"):
        assert furniture not in text


def test_adobe_cmp_text_blocks_are_the_article() -> None:
    page = extract_page(load("cmp_text.html"))
    assert [p.split()[0] for p in texts_of(page, "paragraph")] == ["La", "Les", "Pendant"]
    assert "Mentions légales" not in all_text(page.blocks)


def test_boilerplate_words_still_drop_small_boxes_beside_a_body() -> None:
    # The same words, on boxes that hold little of the page's prose: still furniture.
    page = extract_page(load("named_wrapper.html").replace("{CLASS}", "entry-content").replace(
        '<div class="right-column">', '<div class="share-box"><p>Share this page with a '
        'neighbour who might want a plot.</p></div><div class="right-column">'))
    assert "Share this page" not in all_text(page.blocks)
    assert len(texts_of(page, "paragraph")) == 4


# --- the lead, the region, rescued articles -------------------------------------------


def test_the_standfirst_between_headline_and_body_is_kept() -> None:
    page = extract_page(load("standfirst.html"))
    texts = all_text(page.blocks).splitlines()
    assert texts[0] == "Reservoir levels fall to a ten-year low after the dry summer"
    assert texts[1].startswith("Water company says hosepipe ban will stay")
    assert find(page.blocks, "Water company says").kind == "paragraph"
    assert "More on this story" not in all_text(page.blocks)
    assert "Valley Post, Market Street" not in all_text(page.blocks)


def test_gallery_captions_donation_box_and_teasers_do_not_win_or_join() -> None:
    page = extract_page(load("wrong_regions.html"))
    assert texts_of(page, "title") == ["Episode 41: The night shift"]
    assert [p.split()[0] for p in texts_of(page, "paragraph")] == ["In", "The", "At"]
    text = all_text(page.blocks)
    for other in ("harbour at dusk", "Support independent local radio", "small monthly gift",
                  "Lifeboat day", "last barrel maker"):
        assert other not in text


def test_an_article_appended_inside_an_aside_is_rescued_without_the_sidebar() -> None:
    page = extract_page(load("aside_appended.html"))
    first = find(page.blocks, "The island ferry will run").container
    heading = find(page.blocks, "Lighthouse keeper's cottage to become a museum")
    assert heading.kind == "heading"
    assert heading.container and heading.container != first
    body = [b for b in page.blocks if b.container == heading.container and b.kind == "paragraph"]
    assert len(body) == 4
    assert body[0].text.startswith("The empty keeper's cottage")
    text = all_text(page.blocks)
    for furniture in ("Up next", "Most read", "Get the Gazette", "Harbour lights",
                      "Every weekday at seven"):
        assert furniture not in text


def test_a_short_sidebar_aside_stays_out() -> None:
    html = load("aside_appended.html")
    start, end = html.index('<div class="next-story">'), html.index("</aside>")
    page = extract_page(html[:start] + html[end:])
    assert len({b.container for b in page.blocks}) == 1
    assert "Most read" not in all_text(page.blocks)


def test_an_article_only_in_noscript_is_used() -> None:
    page = extract_page(load("noscript_only.html"))
    assert texts_of(page, "title") == ["Timetable changes from Monday"]
    assert len(texts_of(page, "paragraph")) == 3
    assert "enable JavaScript" not in all_text(page.blocks)
    assert "Loading" not in all_text(page.blocks)


def test_noscript_beside_a_real_article_is_ignored() -> None:
    html = load("news_article.html").replace(
        "</body>", "<noscript><p>This page works best with JavaScript turned on, so please "
        "enable it in your browser settings to see comments and videos.</p></noscript></body>")
    assert "works best with JavaScript" not in all_text(extract_page(html).blocks)


# --- text -----------------------------------------------------------------------------


def test_ruby_readings_are_dropped_and_short_cjk_paragraphs_are_a_body() -> None:
    page = extract_page(load("ruby_ja.html"))
    assert texts_of(page, "title") == ["町の図書館が改装オープン"]
    assert texts_of(page, "paragraph") == [
        "港町の中央図書館が一日、半年ぶりに再開した。",
        "子ども向けの絵本コーナーが二倍に広がった。",
        "館長は「多くの人に来てほしい」と話した。",
        "開館時間は午前九時から午後七時まで。",
    ]
    # CJK paragraphs are short in characters: the page still has an article body, so the
    # ranking beside it is not taken for content.
    assert "アクセスランキング" not in all_text(page.blocks)
    assert "としょかん" not in all_text(page.blocks)


def test_soft_hyphens_go_and_text_is_nfc() -> None:
    html = ("<html><head><title>Cafe\u0301 news</title></head><body><article><h1>Kaffee"
            "\u00adhaus\u00adbesitzer</h1><p>Die Caf\u0065\u0301-Besitzerin er\u00adzählt von "
            "ihrem Kaffee\u00adhaus am Markt und von den Gäs\u00adten, die seit Jahren kommen."
            "</p></article></body></html>")
    page = extract_page(html)
    assert texts_of(page, "title") == ["Kaffeehausbesitzer"]
    paragraph = texts_of(page, "paragraph")[0]
    assert paragraph.startswith("Die Caf\u00e9-Besitzerin erzählt von ihrem Kaffeehaus")
    assert "\u00ad" not in paragraph and "\u0301" not in paragraph
    assert page.title == "Caf\u00e9 news"


def test_control_characters_and_escape_sequences_are_stripped() -> None:
    # A title that sets the terminal's window title and clears the screen, C1 controls,
    # NULs, and an 8-bit CSI, as raw characters and as character references.
    html = ("<html><head><title>Harbour\x1b]0;pwned\x07 news\x1b[2J</title>"
            '<meta property="og:title" content="Harbour &#27;[31mnews&#27;[0m\x9b1m today">'
            "</head><body><article><h1>Storm\x00 warning\x1b[H\x1b[2J issued</h1>"
            "<p>Gales are expected\x85 along the coast\x07 from Thursday evening, the "
            "forecasters said, with gusts of\x1bc seventy miles an hour on exposed headlands."
            "</p></article>"
            '<script type="application/ld+json">{"@type": "NewsArticle", "headline": '
            '"Storm \\u001b]2;owned\\u0007warning", "articleBody": "Gales\\u009b2J expected"}'
            "</script></body></html>")
    page = extract_page(html)
    assert page.title == "Harbour news today"
    assert texts_of(page, "title") == ["Storm warning issued"]
    assert texts_of(page, "paragraph")[0].startswith("Gales are expected along the coast from")
    assert page.articles[0].headline == "Storm warning"
    assert page.articles[0].body == "Gales expected"
    everything = "".join([page.title or "", *texts_of(page), page.articles[0].headline or ""])
    assert not [c for c in everything if ord(c) < 32 or 0x7F <= ord(c) <= 0x9F]


def test_text_to_page_strips_control_characters_too() -> None:
    page = text_to_page("Title\x1b]0;x\x07 line\nsecond\x9b2J line\n")
    assert [b.text for b in page.blocks] == ["Title line", "second line"]


# --- link blocks ----------------------------------------------------------------------


def test_a_card_wrapped_in_one_link_keeps_its_link() -> None:
    blocks = extract_blocks(load("link_blocks.html"), url="https://mills.example/2026/06/x/",
                            include=(".post-cards",))
    assert [(b.kind, b.href) for b in blocks] == [
        ("link_line", "https://mills.example/2026/05/water-wheel-bearings/"),
        ("link_line", "https://mills.example/2026/05/water-wheel-bearings/"),
        ("link_line", "https://mills.example/2026/07/millpond-silt/"),
        ("link_line", "https://mills.example/2026/07/millpond-silt/"),
    ]


def test_a_long_stretch_inside_one_link_is_still_prose() -> None:
    # An unclosed <a> that the parser stretches over the article is markup gone wrong.
    paragraphs = "".join(f"<p>Paragraph {i} of the story, which the parser has put inside a "
                         "link that was never closed by the page's template.</p>"
                         for i in range(6))
    blocks = extract_blocks(f"<html><body><a href='/x'><div>{paragraphs}</div></a></body>"
                            "</html>")
    assert [b.kind for b in blocks] == ["paragraph"] * 6


def test_prose_with_several_inline_links_is_kept_as_a_paragraph() -> None:
    page = extract_page(load("link_blocks.html"))
    block = find(page.blocks, "Volunteers rebuilt the gates")
    assert block.kind == "paragraph"
    assert block.href is None
    assert "Previous post" not in all_text(page.blocks)


def test_a_run_of_links_is_still_dropped() -> None:
    html = load("news_article.html").replace(
        "</article>", "<p><a href='/a'>Harbour</a> | <a href='/b'>Weather and tides</a> | "
        "<a href='/c'>Council meetings</a> | <a href='/d'>Letters to the editor</a></p>"
        "</article>")
    assert "Letters to the editor" not in all_text(extract_page(html).blocks)


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "`", "\u00b4"])
def test_dont_miss_is_a_teaser_marker_whatever_the_apostrophe(apostrophe: str) -> None:
    from scraper.stories._page import MARKER
    from scraper.stories._text import normalise

    assert MARKER.fullmatch(normalise(f"Don{apostrophe}t Miss")) is not None
    assert MARKER.fullmatch(normalise(f"DON{apostrophe}T MISS")) is not None


# --- hostile JSON-LD ------------------------------------------------------------------


@pytest.mark.parametrize("script", [
    "[" * 1000 + "]" * 1000,
    '{"@type": "NewsArticle", "x": ' * 1000 + "1" + "}" * 1000,
    '{"a": ' * 5000 + "null" + "}" * 5000,
])
def test_deeply_nested_json_ld_is_ignored_without_recursion_error(script: str) -> None:
    html = (f'<html><head><script type="application/ld+json">{script}</script>'
            '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Kept"}'
            "</script></head><body><p>Body text.</p></body></html>")
    page = extract_page(html)
    assert [a.headline for a in page.articles] == ["Kept"]
    assert texts_of(page) == ["Body text."]


def test_json_ld_nested_within_the_limit_is_still_read() -> None:
    inner = '{"@type": "NewsArticle", "headline": "Deep but fine", "about": ' + (
        "[" * 50 + "1" + "]" * 50) + "}"
    html = (f'<html><head><script type="application/ld+json">{{"@graph": [{inner}]}}'
            "</script></head><body><p>x</p></body></html>")
    assert [a.headline for a in extract_page(html).articles] == ["Deep but fine"]


# --- decoding (fetch.decode_body) -----------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/html", None])
def test_a_near_utf8_page_with_one_bad_byte_decodes_as_utf8(content_type: str | None) -> None:
    from scraper.fetch import decode_body

    data = (FIXTURES / "near_utf8.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really carries a bad byte
    text, codec = decode_body(data, content_type)
    assert codec == "utf-8"
    assert text.count("\ufffd") == 1
    page = extract_page(text)
    assert texts_of(page, "title") == ["Remont mostu na Wiśle potrwa do jesieni"]
    assert "Kierowcy jadący z Łodzi do Płocka" in all_text(page.blocks)


def test_a_latin1_page_declared_utf8_is_not_forced_into_utf8() -> None:
    from scraper.fetch import decode_body

    data = ("<html><body><p>" + "Ça coûte très cher à Zürich, déjà vu, élève. " * 20
            + "</p></body></html>").encode("latin-1")
    text, codec = decode_body(data, "text/html; charset=utf-8")
    assert codec != "utf-8"
    assert "\ufffd" not in text


def _two_regions_page(with_json_ld: bool) -> str:
    story = ["The harbour board approved the new pontoon on Tuesday after a two-hour debate "
             "about its cost.",
             "Work will start in April and the pontoon should be ready for the summer sailing "
             "season.",
             "Boat owners will pay a small surcharge on their mooring fees for the next five "
             "years."]
    guide = ["Our guide to the best coastal walks this autumn, from the cliff path to the salt "
             "marsh trail.",
             "Pack waterproofs, check the tide tables and leave the route with someone at home "
             "before you go.",
             "Dogs must be kept on leads near the nesting grounds between March and the end of "
             "July each year.",
             "The lighthouse cafe is open at weekends and serves soup and sandwiches until four "
             "o'clock."]
    ld = json.dumps({"@type": "NewsArticle", "headline": "Pontoon approved",
                     "articleBody": "\n".join(story)})
    head = f"<script type='application/ld+json'>{ld}</script>" if with_json_ld else ""
    return (f"<html><head>{head}</head><body>"
            "<div class='a'>" + "".join(f"<p>{p}</p>" for p in guide) + "</div>"
            "<div class='b'>" + "".join(f"<p>{p}</p>" for p in story) + "</div></body></html>")


def test_json_ld_article_body_says_which_region_is_the_article() -> None:
    blocks = extract_blocks(_two_regions_page(with_json_ld=True))
    assert [b.text.split()[0] for b in blocks] == ["The", "Work", "Boat"]
    # Without the metadata neither region wins: both are kept.
    assert len(extract_blocks(_two_regions_page(with_json_ld=False))) == 7


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u02bc", "`"])
def test_furniture_labels_match_whatever_the_apostrophe(apostrophe: str) -> None:
    def page_with(line: str) -> str:
        return load("news_article.html").replace("<p>Finally.</p>", f"<p>Finally.</p><p>{line}</p>")

    assert "outside" in all_text(extract_page(page_with("You’re outside")).blocks)
    assert "offline" not in all_text(extract_page(page_with(f"You{apostrophe}re offline")).blocks)


def test_an_aside_article_whose_body_sits_beside_its_heading_is_rescued() -> None:
    # The card's heading and its body are siblings: the body <div> alone has no heading.
    html = (load("aside_appended.html")
            .replace("<h2>Lighthouse keeper", "<div class='card-head'><h2>Lighthouse keeper")
            .replace("museum</h2>", "museum</h2></div><div class='card-body'>")
            .replace("on the ferry.</p>\n      </div>", "on the ferry.</p>\n      </div></div>"))
    page = extract_page(html)
    heading = find(page.blocks, "Lighthouse keeper's cottage to become a museum")
    assert heading.container != find(page.blocks, "The island ferry will run").container
    assert find(page.blocks, "The museum is expected to open").container == heading.container
    assert "Up next" not in all_text(page.blocks)


def test_a_comment_section_is_never_rescued_as_a_story() -> None:
    # The posts themselves carry no class word: only the section says "comments".
    comment = "<div class='c-item'><p class='author'>Islander</p><p>{}</p></div>"
    long = ("I have lived on the island for forty years and the ferry has never been this "
            "unreliable, even in the worst winters we had in the eighties.")
    html = load("aside_appended.html").replace(
        "</main>", "<section class='comments'><h3>3 comments</h3><div>"
        + "".join(comment.format(f"({i}) {long}") for i in range(3)) + "</div></section></main>")
    assert "forty years" not in all_text(extract_page(html).blocks)


def test_a_section_front_keeps_its_teasers_but_not_its_named_boxes() -> None:
    html = (
        "<html><body><div class='main-menu'><a href='/'>Home</a> <a href='/sport'>Sport</a>"
        "</div><main>"
        "<h2><a href='/ferry'>Ferry strike called</a></h2><p>Crews walk out.</p>"
        "<div class='share-bar'><a href='https://x.example/s'>Share on X</a></div>"
        "<h2><a href='/library'>Library wins award</a></h2><p>Judges praise windows.</p>"
        "</main><div class='sidebar'><h3>Follow us</h3></div></body></html>"
    )
    texts = [b.text for b in extract_blocks(html)]
    assert texts == ["Ferry strike called", "Crews walk out.", "Library wins award",
                     "Judges praise windows."]


def test_bench_halves_are_stable_and_about_even() -> None:
    bench = load_bench()
    names = [f"page-{i}" for i in range(400)]
    halves = [bench.half_of(n) for n in names]
    assert halves == [bench.half_of(n) for n in names]  # a hash of the name, not random
    assert set(halves) == {"tune", "report"}
    assert 150 < halves.count("tune") < 250


@pytest.mark.skipif(not BENCH_DIR.is_dir(), reason="shared benchmark folder not present")
def test_bench_table_has_both_halves_and_the_whole_set() -> None:
    bench = load_bench()
    scores = bench.run(BENCH_DIR, limit=6, trafilatura=False)
    table = bench.format_table(scores, label="half")
    rows = [line.split()[0] for line in table.splitlines()[2:]]
    assert rows == ["tune", "report", "all"]
    pages = [int(line.split()[2]) for line in table.splitlines()[2:]]
    assert pages[0] + pages[1] == pages[2] == 6


def test_a_teaser_between_headline_and_body_is_not_the_lead() -> None:
    teaser = ("<div class='card'><h3><a href='/news/dams'>Why the valley built its dams"
              "</a></h3><p>A century of reservoirs, from the Victorian engineers to the last "
              "dam finished in 1962.</p></div>")
    html = load("standfirst.html").replace("<div class=\"article-body\">",
                                           teaser + "<div class=\"article-body\">")
    text = all_text(extract_page(html).blocks)
    assert "Water company says hosepipe ban" in text  # the standfirst is still the lead
    assert "A century of reservoirs" not in text
