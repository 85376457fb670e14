"""fetch_page against a real server on 127.0.0.1, and its pure helpers."""

from __future__ import annotations

import zlib

import pytest

from scraper.fetch import _BodyTooLarge, _Inflater, decode_body, fetch_page, make_client
from scraper.models import Settings, Validators, Watch


def settings(**kw) -> Settings:
    return Settings(database="", alert_log="", user_agent="scraper-test/1", **kw)


def watch(url: str, **kw) -> Watch:
    return Watch(name="w", url=url, interval=60, timeout=kw.pop("timeout", 5), **kw)


def test_charset_from_header_wins():
    text, encoding = decode_body("café".encode("latin-1"), "text/html; charset=ISO-8859-1")
    assert text == "café" and encoding == "iso8859-1"


def test_charset_from_meta_and_bom():
    body = b'<html><head><meta charset="windows-1252"></head><body>\x93quoted\x94</body>'
    text, encoding = decode_body(body, "text/html")
    assert "“quoted”" in text and encoding == "cp1252"
    text, encoding = decode_body(b"\xef\xbb\xbf<p>\xc3\xa9t\xc3\xa9</p>", None)
    assert text == "<p>été</p>" and encoding == "utf-8"


def test_wrong_declared_charset_falls_back():
    body = "<p>Ελληνικά κείμενα για δοκιμή</p>".encode()
    text, _ = decode_body(body, "text/html; charset=ascii")
    assert "Ελληνικά" in text


def test_undetectable_bytes_do_not_raise():
    text, _ = decode_body(b"<p>\xff\xfe\xfa broken \xc3</p>", "text/html; charset=utf-8")
    assert "broken" in text


def test_inflater_caps_decoded_size():
    bomb = zlib.compress(b"a" * 1_000_000)
    inflater = _Inflater("deflate", cap=10_000)
    with pytest.raises(_BodyTooLarge):
        inflater.feed(bomb)
    assert inflater.size <= 10_001  # never inflated past the cap


def test_inflater_accepts_raw_deflate():
    raw = zlib.compressobj(wbits=-15)
    data = raw.compress(b"<p>raw deflate</p>") + raw.flush()
    assert _Inflater("deflate", cap=1000).feed(data) == b"<p>raw deflate</p>"


def test_unasked_encoding_is_refused():
    with pytest.raises(ValueError, match="'br'"):
        _Inflater("br", cap=10)


async def test_non_html_content_type_is_skipped_with_reason(server):
    server.expect_request("/doc.pdf").respond_with_data(b"%PDF-1.4", content_type="application/pdf")
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch(server.url_for("/doc.pdf")), Validators(),
                                  settings())
    assert result.outcome == "failed"
    assert "not a web page" in (result.error or "") and "application/pdf" in (result.error or "")


async def test_redirects_followed_and_capped(server):
    for i in range(7):
        server.expect_request(f"/r{i}").respond_with_data(
            "", status=302, headers={"Location": f"/r{i + 1}"})
    server.expect_request("/r7").respond_with_data("<p>end</p>", content_type="text/html")
    async with make_client(settings()) as client:
        ok = await fetch_page(client, watch(server.url_for("/r3")), Validators(), settings())
        loop = await fetch_page(client, watch(server.url_for("/r0")), Validators(), settings())
    assert ok.outcome == "ok" and ok.final_url and ok.final_url.endswith("/r7")
    assert loop.outcome == "failed" and "more than 5 redirects" in (loop.error or "")


async def test_retry_after_is_read(server):
    server.expect_request("/busy").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"})
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch(server.url_for("/busy")), Validators(),
                                  settings())
    assert result.outcome == "failed" and result.status == 429
    assert result.retry_after == 120


async def test_empty_body_is_a_failure_not_an_empty_page(server):
    server.expect_request("/empty").respond_with_data(b"", content_type="text/html")
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch(server.url_for("/empty")), Validators(),
                                  settings())
    assert result.outcome == "failed" and result.error == "empty response body"


async def test_connection_refused_is_a_failed_result():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch(f"http://127.0.0.1:{port}/"), Validators(),
                                  settings())
    assert result.outcome == "failed"
    assert result.error and "connect" in result.error.lower()


async def test_a_redirect_to_a_host_idna_refuses_is_a_failed_result(server):
    # idna raises a UnicodeError, not an httpx error: it must not escape fetch_page.
    server.expect_request("/idn").respond_with_data(
        "", status=302, headers={"Location": "http://xn--a.com/"})
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch(server.url_for("/idn")), Validators(),
                                  settings())
    assert result.outcome == "failed" and (result.error or "").startswith("invalid URL")
