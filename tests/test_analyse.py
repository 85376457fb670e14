from __future__ import annotations

from scraper.analyse import HEAVY_TAGS, Analyser, analyse_page
from scraper.extract import extract_page
from scraper.stories import split_stories
from tests.conftest import FIXTURES

PAGE = (FIXTURES / "demo" / "appended-next-article.html").read_text(encoding="utf-8")


async def test_worker_and_inline_give_the_same_result():
    inline_page, inline_split = await Analyser(parallel=False).analyse(PAGE, "u", (), ())
    assert inline_split is None  # stories are left to the caller, needed only on change
    async with Analyser(parallel=True) as analyser:
        page, split = await analyser.analyse(PAGE, "u", (), ())
    assert page == inline_page == extract_page(PAGE, url="u")
    assert split == split_stories(page)
    assert split is not None and [s.title for s in split.stories] == [
        "Lifeboat crew records busiest autumn in twenty years",
        "Market hall traders win two-year rent freeze",
    ]


async def test_a_hostile_page_goes_to_the_worker_even_inline():
    deep = "<html><body>" + "<div>" * (HEAVY_TAGS + 1) + "<p>deep</p></body></html>"
    analyser = Analyser(parallel=False)
    async with analyser:
        page, split = await analyser.analyse(deep, "u", (), ())
        assert analyser._pool is not None  # it ran out of this process
    assert split is not None and [b.text for b in page.blocks] == ["deep"]


def test_analyse_page_is_extract_then_split():
    page, split = analyse_page(PAGE, "u", (), ("article:last-of-type",))
    assert len(split.stories) == 1 and page == extract_page(
        PAGE, url="u", exclude=("article:last-of-type",))
