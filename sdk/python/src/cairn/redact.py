"""Redaction helpers that keep secrets out of what cairn records.

A key is treated as secret when its upper-cased form contains any of
SECRET_MARKERS as a substring. Substring matching is deliberately simple and
errs on the side of hiding too much: ``apiKey``, ``api-key`` and
``AWS_SECRET_ACCESS_KEY`` are all caught, and so are harmless names such as
``KEYBOARD_LAYOUT``, ``AUTHOR`` or ``XDG_SESSION_ID``. Losing such a value from
a record is a much smaller harm than leaking a credential.

String values of keys that are not secret are still scrubbed of URL
credentials (``postgres://user:pw@db/x`` becomes
``postgres://[REDACTED]@db/x``), because connection strings often sit under
innocent names such as ``DATABASE_URL`` or ``HTTPS_PROXY``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SECRET_MARKERS",
    "is_secret_key",
    "redact_mapping",
    "redact_text",
    "strip_url_credentials",
]

SECRET_MARKERS: tuple[str, ...] = (
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SESSION",
    "COOKIE",
    "SIGNATURE",
    "DSN",
    "CONN",
)
"""Upper-case substrings that mark a key as secret (``KEY`` also matches ``KEYBOARD``)."""

REDACTED = "[REDACTED]"
"""The value that replaces a secret."""

# Schemes whose user name is an account name rather than a bearer token.
_USER_KEEPING_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git", "sftp"})

# scheme://userinfo@ inside free text; userinfo cannot hold an unescaped / ? # @ or blank.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*)://(?P<userinfo>[^\s/?#@]+)@")


def is_secret_key(key: str) -> bool:
    """Return True when key looks like it names a secret.

    The check is case-insensitive and ignores separators, so ``api-key``,
    ``apiKey``, ``API_KEY`` and ``aws_secret_access_key`` all match.
    """
    upper = key.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def redact_text(text: str) -> str:
    """Hide the credentials of every ``scheme://user:password@`` URL inside text.

    For ssh-like schemes the user name is kept and only a password is hidden;
    for every other scheme the whole user part is hidden, since tokens are
    often passed as the user name (``https://TOKEN@host/repo.git``).
    """

    def _replace(match: re.Match[str]) -> str:
        scheme = match.group("scheme")
        userinfo = match.group("userinfo")
        if scheme.lower() in _USER_KEEPING_SCHEMES:
            user, sep, _password = userinfo.partition(":")
            if not sep:
                return match.group(0)
            return f"{scheme}://{user}:{REDACTED}@"
        return f"{scheme}://{REDACTED}@"

    if "@" not in text or "://" not in text:
        return text
    return _URL_USERINFO.sub(_replace, text)


def _redact_value(value: object) -> object:
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (list, tuple)):
        return [_redact_value(item) for item in value]
    return value


def redact_mapping(values: Mapping[str, object]) -> dict[str, object]:
    """Return a copy of values with the values of secret-looking keys replaced by REDACTED.

    Nested mappings (also inside lists and tuples, which come back as lists)
    are redacted recursively. A secret key hides its whole value, nested or
    not. String values under other keys have URL credentials hidden by
    redact_text. Keys that are not strings are kept and checked by their str().
    """
    result: dict[str, object] = {}
    for key, value in values.items():
        if is_secret_key(str(key)):
            result[key] = REDACTED
        else:
            result[key] = _redact_value(value)
    return result


def strip_url_credentials(url: str) -> str:
    """Remove credentials from a URL so that it can be recorded.

    ``https://user:tok@host/x.git`` becomes ``https://host/x.git`` (the user
    name goes too, as it may itself be a token). For ssh-like schemes the
    user name is kept and only a password removed:
    ``ssh://git:pw@host/x.git`` becomes ``ssh://git@host/x.git``. Strings
    without ``scheme://``, such as the scp-like ``git@github.com:org/repo.git``
    or a local path, are returned unchanged.
    """
    if "://" not in url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in _USER_KEEPING_SCHEMES:
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}" if user else hostport
    else:
        netloc = hostport
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
