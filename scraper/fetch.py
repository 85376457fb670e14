"""Fetch one page: ``await fetch_page(client, watch, validators, settings) -> FetchResult``.

Every outcome (ok, 304, failed) is a field of the result, never an exception, so the
pipeline reads top-down. httpx is imported here and nowhere else.

Why the details:
- Transport: httpx's default transport slows badly with many requests in flight on two
  cores; the aiohttp transport keeps concurrency cheap behind the same httpx API.
- Decoding: we ask for gzip/deflate only and inflate them ourselves with zlib's
  ``max_length``, because httpx's decoders do not bound their output (a gzip bomb of a
  few KB decodes to GBs in one chunk). The body cap holds on the decoded size.
- Redirects: followed by hand (at most 5), so a redirect to file:// or any non-http
  scheme is refused by name and a redirect's own body is never read. Credentials
  (Authorization, Cookie) go to the configured origin only, never to where it redirects.
- Deadline: each fetch has a total deadline, so a server that drips one byte a second
  cannot hold the run; read/connect timeouts alone would not catch it.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
import httpx
from charset_normalizer import from_bytes
from httpx_aiohttp import AiohttpTransport

from scraper.models import FetchResult, Settings, Validators, Watch

__all__ = ["Fetcher", "HttpClient", "HttpError", "describe_failure", "fetch_page", "make_client"]

HttpClient = httpx.AsyncClient  # other modules name the client through this alias
HttpError = httpx.HTTPError  # and catch its errors through this one

MAX_REDIRECTS = 5
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.8,*/*;q=0.5"
ACCEPT_ENCODING = "gzip, deflate"  # only what we inflate with a bounded decompressor
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml",
               "text/xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Headers that carry the user's credentials: sent to the configured origin only.
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Codecs that decode any byte string, so a wrong declaration never fails, only garbles.
_SINGLE_BYTE = frozenset({"iso8859-1", "cp1252", "iso8859-15", "cp1250",
                          "iso8859-2", "ascii"})
# Signatures of files that are not web pages, for bodies sent without a Content-Type.
_BINARY_MAGIC = ((b"%PDF-", "PDF"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"),
                 (b"\xff\xd8\xff", "JPEG"), (b"PK\x03\x04", "ZIP"), (b"\x1f\x8b", "gzip"),
                 (b"RIFF", "RIFF"), (b"\x00\x00\x01\x00", "ICO"))


# What the pipeline calls to fetch: fetch_page itself, or a wrapper that adds politeness.
Fetcher = Callable[[HttpClient, Watch, Validators, Settings], Awaitable[FetchResult]]


def make_client(settings: Settings) -> httpx.AsyncClient:
    """The one client shared by every fetch of a run (connection pooling, keep-alive)."""
    limits = httpx.Limits(
        max_connections=max(settings.concurrency, 1),
        max_keepalive_connections=max(settings.concurrency, 1),
    )
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits),
        headers={
            "User-Agent": settings.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        follow_redirects=False,
        timeout=httpx.Timeout(settings.timeout),
    )


class _BodyTooLarge(Exception):
    pass


class _Inflater:
    """Content-Encoding decoder whose output never exceeds the cap."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.cap = cap
        self.size = 0
        self.raw_deflate_tried = False
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.inflater = None
        elif encoding in ("gzip", "x-gzip"):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.inflater = zlib.decompressobj()
        else:
            raise ValueError(
                f"the server sent Content-Encoding {encoding!r}, which was not asked for"
            )
        self.encoding = encoding

    def feed(self, chunk: bytes) -> bytes:
        if self.inflater is None:
            return self._count(chunk)
        out = bytearray()
        data = chunk
        while data:
            try:
                piece = self.inflater.decompress(data, self.cap - self.size + 1)
            except zlib.error:
                # "deflate" is sent both zlib-wrapped and raw in the wild; retry raw once.
                if self.encoding != "deflate" or self.raw_deflate_tried or self.size:
                    raise
                self.raw_deflate_tried = True
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            out += self._count(piece)
            data = self.inflater.unconsumed_tail
            if self.inflater.eof:
                break
        return bytes(out)

    def _count(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.cap:
            raise _BodyTooLarge
        return piece


def _charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type, re.I)
    return match[1] if match else None


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


# Lead bytes of UTF-8 multi-byte sequences.
_UTF8_LEADS = bytes(range(0xC2, 0xF5))


def _mostly_utf8(body: bytes) -> bool:
    """UTF-8 with a few broken bytes (a truncated character, one bad byte from a template),
    not another encoding: more valid multi-byte characters than broken sequences. Latin-1
    or Shift_JIS text read as UTF-8 fails at nearly every non-ASCII byte."""
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")  # minus real U+FFFDs
    leads = len(body) - len(body.translate(None, _UTF8_LEADS))
    return leads - bad > bad


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Bytes -> (text, encoding): header charset, then BOM / <meta>, then detection.

    A declared charset that does not decode the bytes is ignored (sites lie), and
    undecodable bytes become U+FFFD rather than an error. UTF-8 with a few bad bytes stays
    UTF-8 (with U+FFFD for them): guessing a legacy codec would garble the whole page.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace").lstrip("\ufeff"), name
    candidates = [_charset_from_content_type(content_type)]
    meta = _META_CHARSET.search(body[:4096])
    candidates.append(meta[1].decode("ascii", "ignore") if meta else None)
    for candidate in candidates:
        codec = _known_codec(candidate)
        if codec in _SINGLE_BYTE and not body.isascii():
            # Latin-1 and friends decode anything, so a lie shows up as mojibake, not as
            # an error. Text in them is almost never valid UTF-8: if it is, UTF-8 it is.
            try:
                return body.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        if codec:
            try:
                return body.decode(codec), codec
            except UnicodeDecodeError:
                if codec == "utf-8" and _mostly_utf8(body):
                    return body.decode("utf-8", errors="replace"), "utf-8"
                continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if _mostly_utf8(body):
            return body.decode("utf-8", errors="replace"), "utf-8"
    best = from_bytes(body[:200_000]).best()
    codec = _known_codec(best.encoding) if best else None
    codec = codec or "utf-8"
    return body.decode(codec, errors="replace"), codec


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True  # no type given: try it as HTML
    main = content_type.split(";")[0].strip().lower()
    return main in _TEXT_TYPES or main.endswith("+xml")


def _sniff_binary(body: bytes) -> str | None:
    """What an untyped body is, when it is plainly not text (a PDF, an image, NULs)."""
    for magic, name in _BINARY_MAGIC:
        if body.startswith(magic):
            return name
    head = body[:1024]
    # UTF-16 pages start with a BOM (decode_body handles them); other NULs mean binary.
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "binary data"
    return None


def _same_origin(a: str, b: str) -> bool:
    one, two = httpx.URL(a), httpx.URL(b)
    return (one.scheme, one.host, one.port) == (two.scheme, two.host, two.port)


async def _read_file(url: str, cap: int) -> bytes:
    path = Path(unquote(urlsplit(url).path))

    def read() -> bytes:
        with path.open("rb") as handle:
            return handle.read(cap + 1)

    return await asyncio.to_thread(read)


async def fetch_page(
    client: httpx.AsyncClient,
    watch: Watch,
    validators: Validators,
    settings: Settings,
) -> FetchResult:
    """Fetch ``watch.url`` within ``watch.timeout`` seconds in all."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(watch.timeout):
            result = await _fetch(client, watch, validators, settings)
    except TimeoutError:
        result = FetchResult(url=watch.url, outcome="failed", unreachable=True,
                             error=f"timed out after {watch.timeout:g} s")
    except (httpx.HTTPError, OSError) as exc:
        error, unreachable = describe_failure(exc, watch.timeout, _url_of(exc) or watch.url)
        result = FetchResult(url=watch.url, outcome="failed", error=error,
                             unreachable=unreachable)
    except (httpx.InvalidURL, UnicodeError) as exc:
        # Not HTTPErrors, so they would end the whole run: a malformed URL, or a host
        # name IDNA refuses ("xn--a.com"), in the watch list or a server's Location.
        result = FetchResult(url=watch.url, outcome="failed", error=f"invalid URL: {exc}")
    duration = time.perf_counter() - started
    return replace(result, duration=duration)


def _url_of(exc: BaseException) -> str | None:
    """The URL of the request that failed (a redirect's target, maybe), if httpx knows it."""
    try:
        return str(exc.request.url) if isinstance(exc, httpx.RequestError) else None
    except RuntimeError:  # httpx raises this when the error carries no request
        return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: httpx wraps aiohttp's error, which wraps the OS's."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        for attr in ("os_error", "certificate_error"):  # aiohttp keeps these aside
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException) and inner not in chain:
                chain.append(inner)
        current = current.__cause__ or current.__context__
    return chain


def _tls_reason(exc: BaseException) -> str:
    verify = getattr(exc, "verify_message", None)
    if verify:
        return f"certificate verify failed: {verify}"
    # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> the words.
    text = _SSL_NOISE.sub("", str(exc)).strip()
    return text or type(exc).__name__


# httpx's timeouts that are real ones (not its aiohttp transport's ConnectTimeout, which
# stands for any connection error): raised by httpx's own transports.
_REAL_TIMEOUTS = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)


_SSL_NOISE = re.compile(r"^\[SSL: [A-Z0-9_]+\] |\s*\(_ssl\.c:\d+\)$")
_RECEIVED = re.compile(r"received (\d+) of (\d+) bytes")


def describe_failure(exc: BaseException, timeout: float, url: str) -> tuple[str, bool]:
    """(error text, whether the site is unreachable) for an error raised by a fetch.

    The text starts with what happened, in words a person reads in ``scrape status``:
    ``connection refused``, ``name not resolved``, ``TLS handshake failed``, ``timed out
    after 30 s``, ``connection reset``. httpx's own class is no guide: its aiohttp
    transport maps every aiohttp connection error, a refused one included, to
    ConnectTimeout; so the causes underneath decide.
    """
    parts = urlsplit(url)
    host = parts.hostname or url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    where = f"{host}:{port}" if port else host
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, socket.gaierror | aiohttp.ClientConnectorDNSError):
            return f"name not resolved ({host})", True
    tls = [c for c in causes if isinstance(c, ssl.SSLError | ssl.CertificateError
                                           | aiohttp.ClientSSLError)]
    if tls:
        # The ssl module's own error says why; aiohttp's wrapper only that it failed.
        own = [c for c in tls if not isinstance(c, aiohttp.ClientError)]
        return (f"TLS handshake failed ({where}: {_tls_reason(own[0])})" if own
                else f"TLS handshake failed ({where})"), True
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused ({where})", True
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return f"connection reset ({where})", True
        if isinstance(cause, aiohttp.ClientPayloadError):
            # aiohttp names the reset, if it was one, only in the message.
            text = str(cause)
            kind = "reset" if "ConnectionResetError" in text else "closed"
            got = _RECEIVED.search(text)
            detail = f" (received {got[1]} of {got[2]} bytes)" if got else ""
            return f"connection {kind} mid-body{detail}", True
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return f"connection closed before a response ({where})", True
        if isinstance(cause, TimeoutError) or type(cause) in _REAL_TIMEOUTS:
            return f"timed out after {timeout:g} s", True
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
            # EHOSTUNREACH, ENETUNREACH, ...: the OS's words, lower-cased.
            return f"{os.strerror(cause.errno).lower()} ({where})", True
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL scheme: {exc}", False
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {exc}" if str(exc) else "protocol error", False
    if isinstance(exc, httpx.HTTPError):
        return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__), False
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__, False
    return f"{type(exc).__name__}: {exc}", False


async def _fetch(
    client: httpx.AsyncClient,
    watch: Watch,
    validators: Validators,
    settings: Settings,
) -> FetchResult:
    url = watch.url
    if url.startswith("file:"):
        if not settings.allow_file_urls:
            return FetchResult(url=url, outcome="failed", error="file:// URLs are not allowed")
        body = await _read_file(url, settings.max_body)
        if len(body) > settings.max_body:
            return FetchResult(url=url, outcome="failed",
                               error=f"body larger than the {settings.max_body} byte cap")
        text, encoding = decode_body(body, None)
        return FetchResult(url=url, outcome="ok", status=200, text=text, final_url=url,
                           encoding=encoding, bytes=len(body))

    headers = dict(watch.headers)
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    timeout = httpx.Timeout(watch.timeout)
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        scheme = urlsplit(current).scheme.lower()
        if scheme not in ("http", "https"):
            return FetchResult(url=url, outcome="failed", final_url=current,
                               error=f"refused redirect to a {scheme or 'relative'}: URL")
        if current != url and not _same_origin(current, url):  # (parsing URLs costs)
            headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
        request = client.build_request("GET", current, headers=headers, timeout=timeout)
        try:
            response = await client.send(request, stream=True)
        except httpx.InvalidURL as exc:
            # httpx parses the Location of every 3xx, followed or not; "javascript:..."
            # or "data:..." fail that parse here, after the request was built.
            return FetchResult(url=url, outcome="failed", final_url=current,
                               error=f"refused redirect to an invalid URL: {exc}")
        try:
            if response.has_redirect_location:
                current = str(response.url.join(response.headers["Location"]))
                continue
            return await _read_response(url, response, settings)
        finally:
            await response.aclose()
    return FetchResult(url=url, outcome="failed", final_url=current,
                       error=f"more than {MAX_REDIRECTS} redirects")


async def _read_response(url: str, response: httpx.Response, settings: Settings) -> FetchResult:
    status = response.status_code
    content_type = response.headers.get("Content-Type")
    final_url = str(response.url)
    new_validators = Validators(
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )
    if status == 304:
        return FetchResult(url=url, outcome="not_modified", status=status,
                           final_url=final_url, validators=new_validators)
    if status >= 400 or status < 200:
        reason = response.reason_phrase or ""
        return FetchResult(
            url=url, outcome="failed", status=status, final_url=final_url,
            error=f"HTTP {status} {reason}".strip(),
            retry_after=_retry_after(response.headers.get("Retry-After"))
            if status in (429, 503) else None,
        )
    if not _is_text(content_type):
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           content_type=content_type,
                           error=f"not a web page: Content-Type {content_type}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > settings.max_body:
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error=f"body of {declared} bytes is over the "
                           f"{settings.max_body} byte cap")
    try:
        inflater = _Inflater(response.headers.get("Content-Encoding", ""), settings.max_body)
    except ValueError as exc:
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error=str(exc))
    parts: list[bytes] = []
    try:
        async for chunk in response.aiter_raw():
            parts.append(inflater.feed(chunk))
    except _BodyTooLarge:
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error=f"body over the {settings.max_body} byte cap (decoded)")
    except zlib.error as exc:
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error=f"corrupt {inflater.encoding} body: {exc}")
    body = b"".join(parts)
    if not body or body.isspace():  # (strip() would copy a page of up to max_body)
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error="empty response body")
    if inflater.inflater is not None and not inflater.inflater.eof:
        # The stream stopped before the compressed data ended: a cut-off page.
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error=f"truncated {inflater.encoding} body (the stream ended early)")
    binary = None if content_type else _sniff_binary(body)
    if binary:
        return FetchResult(url=url, outcome="failed", status=status, final_url=final_url,
                           error=f"not a web page: no Content-Type and the body is {binary}")
    text, encoding = decode_body(body, content_type)
    return FetchResult(
        url=url, outcome="ok", status=status, text=text, final_url=final_url,
        content_type=content_type, encoding=encoding, validators=new_validators,
        bytes=len(body),
    )
