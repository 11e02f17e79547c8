"""What of a postgresql:// URL may be shown: never its password, however the URL is spelled.

A password is often pasted into a URL as it is, not percent-encoded, so it may hold `#`, `?`,
`@`, `/`, `:` or `%`. Python's URL parser then cuts the URL in the wrong place (`#` starts a
fragment, `?` a query) and a redaction built on it prints the password; libpq itself ends the
user info at the first `@` or `/`, so `p@ss` makes it resolve a host called `ss@db` and say so
in its error. So `redact_url` finds the user info the safe way (up to the LAST `@` that is
followed by something shaped like a host) and `scrub_secrets` also removes, from any text,
every piece of the password and of `password=` / `sslpassword=` values. When in doubt more is
hidden, never less.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote

from psycopg.conninfo import conninfo_to_dict

_SECRET_PARAMS = ("password", "sslpassword")
# What may follow the user info's `@`: hosts, ports, several hosts, [IPv6], %2F-encoded sockets.
_HOSTSPEC = re.compile(r"[A-Za-z0-9.\-\[\]:,%_]*")
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&])(?:ssl)?password=)(.*?)(?=&[A-Za-z_]+=|$)", re.S)
_SHORTEST_PIECE = 2  # a one-character piece of a password gives little away; replacing it mangles text


def _split(url: str) -> tuple[str, str, str]:
    """(scheme with '://', user info ('' when none), the rest after the user info's '@')."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", "", url
    # An `@` inside a ?password= / ?sslpassword= value is not the user info's end.
    query_secret = _QUERY_SECRET.search(rest)
    end = query_secret.start() if query_secret else len(rest)
    for i in range(end - 1, -1, -1):
        if rest[i] == "@" and _HOSTSPEC.fullmatch(re.match(r"[^/?#]*", rest[i + 1:]).group()):  # type: ignore[union-attr]
            return scheme + sep, rest[:i], rest[i + 1:]
    return scheme + sep, "", rest


def redact_url(url: str) -> str:
    """The URL with its password (in the user info, or as ?password= / ?sslpassword=) shown as ***."""
    scheme, userinfo, rest = _split(url)
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    redacted = scheme + (userinfo + "@" if userinfo else "") + _QUERY_SECRET.sub(r"\1***", rest)
    return scrub_secrets(redacted, url)


def _secret_values(url: str) -> set[str]:
    """Every spelling of every secret the URL holds, as libpq and as a careless reader would see them."""
    values: set[str] = set()
    _, userinfo, rest = _split(url)
    if ":" in userinfo:
        values.add(userinfo.split(":", 1)[1])
    values.update(m.group(2) for m in _QUERY_SECRET.finditer(rest))
    values.update(m.group(2) for m in _QUERY_SECRET.finditer(url))
    try:
        info = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - libpq refuses the URL: the spellings above remain
        info = {}
    values.update(str(info[k]) for k in _SECRET_PARAMS if info.get(k))
    spelled: set[str] = set()
    for value in values:
        for form in (value, unquote(value), quote(value, safe=""), quote_plus(value)):
            spelled.add(form)
            # libpq may split a password at an `@` or `/` and show the pieces (as a host name).
            spelled.update(re.split(r"[@/]", form))
    return {v for v in spelled if len(v) >= _SHORTEST_PIECE}


def scrub_secrets(text: str, url: str) -> str:
    """`text` (an error message, a redacted URL) with every piece of the URL's secrets replaced by ***."""
    for value in sorted(_secret_values(url), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
