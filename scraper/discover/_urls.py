"""Canonical article URLs, so one article reached two ways is tracked once."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, unquote_plus, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "resolve_link", "same_site"]

# Query parameters that say how a reader arrived, never which page they get: dropped
# (compared case-insensitively). Campaign tags of analytics tools, ad-click ids, mailing
# list ids, social-app share ids and referral markers.
TRACKING_PARAMS = frozenset({
    # ad-click and analytics ids
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igshid", "_ga", "_gl", "srsltid",
    # mailing lists (Mailchimp, HubSpot, Marketo, Vero)
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id", "vero_conv",
    # referral and share markers
    "ref", "ref_src", "ref_url", "referrer", "share", "smid", "smtyp", "ito", "ocid",
    "cmpid", "cmp", "s_cid", "spm", "at_medium", "at_campaign", "at_custom1",
    "at_custom2", "at_custom3", "at_custom4",
    # Webtrekk/Comscore campaign ids used by news sites
    "wt_mc", "wt.mc_id", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
})
# Whole families: utm_source, utm_medium ... (Google), pk_/mtm_ (Matomo), hsa_ (HubSpot
# ads), oly_ (Omeda).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_BAD_HOST = re.compile(r"[\s\x00-\x1f\x7f%<>\"{}|\\^`]")
# Characters of a path or query that stay as written; anything else (spaces, controls,
# non-ASCII) is percent-encoded as UTF-8, the form a browser sends.
_PATH_SAFE = "!$%&'()*+,/:;=@[]~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _is_tracking(piece: str) -> bool:
    key = unquote_plus(piece.split("=", 1)[0]).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _host_key(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _split(url: str) -> SplitResult:
    """The URL's parts; ValueError when it has a bad port, host or IPv6 literal."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() in _DEFAULT_PORTS:
        host = parts.hostname
        _ = parts.port  # raises on a port that is not a number or out of range
        if not host or _BAD_HOST.search(host):
            raise ValueError(f"bad host name in {url!r}")
    return parts


def same_site(a: str, b: str) -> bool:
    """Whether two absolute URLs are on one site: the same host, give or take ``www.``.

    file: URLs are one site with each other (the offline demo) and with nothing else.
    """
    try:
        pa, pb = _split(a), _split(b)
    except ValueError:
        return False
    sa, sb = pa.scheme.lower(), pb.scheme.lower()
    if "file" in (sa, sb):
        return sa == sb
    if sa not in _DEFAULT_PORTS or sb not in _DEFAULT_PORTS:
        return False
    return _host_key(pa.hostname or "") == _host_key(pb.hostname or "")


def _normalise(url: str) -> str:
    parts = _split(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if scheme in _DEFAULT_PORTS:
        host, port = parts.hostname or "", parts.port
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = host.rstrip(".")
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            netloc += f":{port}"
        if userinfo:
            netloc = f"{userinfo}@{netloc}"
    path = quote(parts.path, safe=_PATH_SAFE) or ("/" if scheme in _DEFAULT_PORTS else "")
    # Split the raw query rather than decode and re-encode it: what is kept stays as the
    # site wrote it, in its order.
    pieces = [quote(p, safe=_QUERY_SAFE) for p in parts.query.split("&")
              if p and not _is_tracking(p)]
    return urlunsplit((scheme, netloc, path, "&".join(pieces), ""))


def _declared_url(page_html: str) -> str | None:
    """The page's own rel=canonical, else its og:url, as written."""
    tree = LexborHTMLParser(page_html)
    for link in tree.css("link[rel][href]"):
        rels = (link.attributes.get("rel") or "").lower().split()
        href = (link.attributes.get("href") or "").strip()
        if "canonical" in rels and href:
            return href
    for meta in tree.css("meta[property][content]"):
        if (meta.attributes.get("property") or "").strip().lower() == "og:url":
            content = (meta.attributes.get("content") or "").strip()
            if content:
                return content
    return None


def canonical_url(url: str, page_html: str | None = None) -> str:
    """The one URL an article is known by.

    With ``page_html``, the page's rel=canonical (else og:url) replaces ``url`` when it is
    on the same site (a canonical pointing elsewhere is a syndicated copy's or a mistake,
    and would let one page take over another's history). Then: tracking parameters
    (`TRACKING_PARAMS`, `TRACKING_PREFIXES`) and the fragment are removed, scheme and host
    lower-cased, a default port dropped, spaces and non-ASCII characters percent-encoded;
    every other query parameter is kept, in order. A URL that is not one (a bad port,
    host or IPv6 literal) raises ValueError naming it.
    """
    chosen = url.strip()
    if page_html:
        declared = _declared_url(page_html)
        if declared:
            try:
                absolute = urljoin(chosen, declared)
            except ValueError:  # a malformed canonical is no canonical
                absolute = chosen
            # same_site also keeps a file: page's canonical on file: (the offline demo).
            if same_site(absolute, chosen):
                chosen = absolute
    try:
        return _normalise(chosen)
    except ValueError as exc:  # includes UnicodeEncodeError (lone surrogates)
        raise ValueError(f"not a valid URL: {url!r} ({exc})") from None


def resolve_link(href: str, base: str, source_url: str) -> str | None:
    """A link's absolute canonical URL, or None when it is not one to follow.

    Relative links resolve against ``base``. Only http(s) links are kept, and file:
    links when the page or feed itself (``source_url``) is a file: URL (the offline
    demo). A malformed link, or one back to the source itself, gives None.
    """
    if any(ord(c) < 0x20 for c in href):  # a control character: junk, not a link
        return None
    try:
        absolute = urljoin(base, href.strip())
        scheme = urlsplit(absolute).scheme.lower()
        allowed = ("http", "https", "file") if urlsplit(source_url).scheme == "file" else (
            "http", "https")
        if scheme not in allowed:
            return None
        found = canonical_url(absolute)
        return None if found == canonical_url(source_url) else found
    except ValueError:
        return None
