"""Canonical article URLs, so one article reached two ways is tracked once."""

from __future__ import annotations

from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "same_site"]

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


def _is_tracking(piece: str) -> bool:
    key = unquote_plus(piece.split("=", 1)[0]).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _host_key(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def same_site(a: str, b: str) -> bool:
    """Whether two absolute URLs are on one site: the same host, give or take ``www.``.

    file: URLs are one site with each other (the offline demo) and with nothing else.
    """
    pa, pb = urlsplit(a), urlsplit(b)
    sa, sb = pa.scheme.lower(), pb.scheme.lower()
    if "file" in (sa, sb):
        return sa == sb
    if sa not in _DEFAULT_PORTS or sb not in _DEFAULT_PORTS:
        return False
    try:
        ha, hb = pa.hostname, pb.hostname
    except ValueError:
        return False
    return bool(ha) and bool(hb) and _host_key(ha or "") == _host_key(hb or "")


def _normalise(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if scheme in _DEFAULT_PORTS:
        try:
            host, port = parts.hostname or "", parts.port
        except ValueError:  # a port that is not a number: leave the URL as written
            host, port = parts.netloc.lower(), None
            netloc = host
        else:
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            userinfo = parts.netloc.rpartition("@")[0]
            netloc = host.rstrip(".")
            if port is not None and port != _DEFAULT_PORTS[scheme]:
                netloc += f":{port}"
            if userinfo:
                netloc = f"{userinfo}@{netloc}"
    path = parts.path or ("/" if scheme in _DEFAULT_PORTS else "")
    # Split the raw query rather than decode and re-encode it: what is kept stays byte for
    # byte as the site wrote it, in its order.
    pieces = [p for p in parts.query.split("&") if p and not _is_tracking(p)]
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
    lower-cased, a default port dropped; every other query parameter is kept, in order.
    """
    chosen = url.strip()
    if page_html:
        declared = _declared_url(page_html)
        if declared:
            absolute = urljoin(chosen, declared)
            # same_site also keeps a file: page's canonical on file: (the offline demo).
            if same_site(absolute, chosen):
                chosen = absolute
    return _normalise(chosen)
