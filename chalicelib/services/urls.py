"""URLs that users give (repositories, galaxy servers), split once with the same refusals."""
from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from chalicelib.services.errors import ValidationError


def split(field: str, url: str) -> SplitResult:
    """`url`'s parts; a 400 naming `field` for whitespace, an unparsable URL or a bad port."""
    if any(c.isspace() for c in url):
        raise ValidationError(field, "must not contain whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host, or port 99999
        raise ValidationError(field, f"not a valid URL: {exc}") from None
    return parts
