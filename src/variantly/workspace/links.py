"""Links as a mail client or a browser would see them in text, and whether each may be there.

Copy is plain text, but a mail client makes a link of anything that looks like one:
``lumen.example.evil.com/reset`` and ``www.evil.se`` with no scheme at all, an e-mail
address, a punycode host. linkify-it-py (the port of the linkifier markdown-it uses)
finds them as linkifiers do: fuzzy links need a known top-level domain, so the
top-level domains of the allow-list are added (``lumen.example`` would otherwise not be a
link, and neither would ``evil.example/login``). A link is allowed when it is https (or
has no scheme) and its host is an allowed domain or under one, compared after IDNA
decoding so a lookalike in another script is never taken for the real host.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Link:
    start: int
    end: int
    text: str
    scheme: str  # "https", "http", "mailto", or "" when the text had none
    host: str  # lower case, IDNA decoded to Unicode

    def problem(self, allowed_domains: tuple[str, ...]) -> str | None:
        """Why this link may not be in copy, or None when it may."""
        if self.scheme == "mailto":  # not quoted: an address is personal data, and problems are quoted back
            return "contains an e-mail address, which a mail client makes a link"
        if self.scheme not in ("", "https"):
            return f"links over {self.scheme}, not https"
        if not host_allowed(self.host, allowed_domains):
            shown = self.host or self.text
            ascii_host = _to_ascii(self.host)
            if ascii_host != self.host:
                shown += f" ({ascii_host})"
            return f"links to {shown}, which is not an allowed domain"
        return None


def host_allowed(host: str, allowed_domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in (_to_unicode(a.lower()) for a in allowed_domains))


@lru_cache(maxsize=32)
def _linkifier(extra_tlds: tuple[str, ...]) -> Any:
    from linkify_it import LinkifyIt
    from linkify_it.tlds import TLDS

    return LinkifyIt(options={"fuzzy_ip": True}).tlds(sorted(set(TLDS) | set(extra_tlds)))


def find_links(text: str, allowed_domains: tuple[str, ...] = ()) -> list[Link]:
    """Every link a linkifier sees in ``text``, with its position."""
    tlds = tuple(sorted({d.rsplit(".", 1)[-1].lower() for d in allowed_domains if "." in d}))
    linkifier = _linkifier(tlds)
    if not linkifier.pretest(text):
        return []
    found = []
    for match in linkifier.match(text) or []:
        scheme = match.schema.rstrip(":").lower()
        parts = urlsplit(match.url)
        host = parts.hostname or ""
        if scheme == "mailto":
            host = match.url.rpartition("@")[2]
        found.append(Link(match.index, match.last_index, match.raw, scheme, _to_unicode(host.lower())))
    return found


def _to_unicode(host: str) -> str:
    try:
        return host.encode("ascii").decode("idna") if "xn--" in host else host
    except UnicodeError:
        return host


def _to_ascii(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
