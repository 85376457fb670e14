"""fetch_page against a real server on 127.0.0.1, and its pure helpers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import zlib

import pytest

from scraper.fetch import (
    _BodyTooLarge,
    _Inflater,
    decode_body,
    describe_failure,
    fetch_page,
    make_client,
)
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
    assert result.outcome == "failed" and result.unreachable
    assert result.error == f"connection refused (127.0.0.1:{port})"


async def test_a_redirect_to_a_host_idna_refuses_is_a_failed_result(server):
    # idna raises a UnicodeError, not an httpx error: it must not escape fetch_page.
    server.expect_request("/idn").respond_with_data(
        "", status=302, headers={"Location": "http://xn--a.com/"})
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch(server.url_for("/idn")), Validators(),
                                  settings())
    assert result.outcome == "failed" and (result.error or "").startswith("invalid URL")


# --- what a failure is called ---------------------------------------------------------


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)  # cancelled when the server closes


async def _reset_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    _rst(writer)


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def _reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n"
                 b"<p>half")
    await writer.drain()
    await asyncio.sleep(0.1)
    _rst(writer)


async def _plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)  # a TLS ClientHello, answered in plain HTTP
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(("handler", "scheme", "expected"), [
    (_never_answer, "http", "timed out after 0.5 s"),
    (_reset_at_once, "http", "connection reset (127.0.0.1:{port})"),
    (_close_at_once, "http", "connection closed before a response (127.0.0.1:{port})"),
    (_reset_mid_body, "http", "connection reset mid-body (received 7 of 1000 bytes)"),
    (_plain_http, "https", "TLS handshake failed (127.0.0.1:{port}: wrong version number)"),
], ids=["timeout", "reset", "closed", "reset-mid-body", "tls-to-plain-http"])
async def test_a_failure_is_named_by_what_happened(handler, scheme, expected):
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await handler(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_client(settings()) as client:
            result = await fetch_page(client, watch(f"{scheme}://127.0.0.1:{port}/",
                                                    timeout=0.5), Validators(), settings())
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()
    assert result.outcome == "failed" and result.unreachable
    assert result.error == expected.format(port=port)


async def test_a_name_that_does_not_resolve(monkeypatch):
    # Resolved in-process, never by the system resolver: no packet leaves the machine.
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    async with make_client(settings()) as client:
        result = await fetch_page(client, watch("http://news.example.invalid/front"),
                                  Validators(), settings())
    assert asked == ["news.example.invalid"]
    assert result.outcome == "failed" and result.unreachable
    assert result.error == "name not resolved (news.example.invalid)"


def test_other_os_errors_keep_the_systems_words():
    error, unreachable = describe_failure(
        OSError(errno.EHOSTUNREACH, "No route to host"), 5, "http://192.0.2.1:8080/")
    assert (error, unreachable) == ("no route to host (192.0.2.1:8080)", True)
