"""Secrets from ``${VAR}`` in secret registry fields (``api_key``,
``api_keys``): validated when substituted, then redacted by value.

Validation (:func:`validate_secret`): a trailing newline (``$(cat key.txt)``,
a ``.env`` file with CRLF) is stripped, with a :class:`SecretWarning`; any
other control character (C0, DEL, C1) refuses the value with a
:class:`SecretValueError` whose message never contains the value. An HTTP
library would otherwise put the whole value into its own error message
(``Illegal header value b'Bearer sk-...\\n'``).

Redaction (:func:`redact`): every validated value is remembered for the
life of the process, and :func:`redact` replaces each occurrence (and its
``repr``-escaped form) by ``[REDACTED]`` in any text, whatever the
wording around it. The journal (every record, event and run column it
writes), the event stream (``--json``, the live view), run errors and
harness errors go through it, so a key echoed by a server, an exception or
a tool result does not reach the terminal or the journal file. Values
shorter than :data:`MIN_REDACTED` characters are not remembered (they
would redact ordinary words); such a short value is no secret anyway.
"""

from __future__ import annotations

import re
import threading
import warnings
from typing import Any

MIN_REDACTED = 6
"""The shortest value redacted (characters)."""

REDACTED = "[REDACTED]"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


class SecretValueError(ValueError):
    """A secret value that cannot be used; the message names the field and
    the character's position, never the value."""


class SecretWarning(UserWarning):
    """A secret value was repaired (a trailing newline stripped)."""


def validate_secret(value: str, *, where: str) -> str:
    """The usable form of the secret ``value`` (see module docs), remembered
    for :func:`redact`.

    Args:
        value: the substituted value.
        where: what holds it, for messages (``"model `m`: api_key"``).

    Raises:
        SecretValueError: a control character other than a trailing newline.
    """
    cleaned = value
    if cleaned.endswith(("\n", "\r")):
        cleaned = cleaned.rstrip("\r\n")
        remember(value)
        warnings.warn(SecretWarning(f"{where}: the value ends with a newline; it was removed "
                                    "(W0891: check how the variable is set)"), stacklevel=2)
    m = _CONTROL.search(cleaned)
    if m:
        remember(value)
        raise SecretValueError(f"{where}: the value has a control character (U+{ord(m.group()):04X}) at "
                               f"position {m.start() + 1} of {len(cleaned)}; it is not used (E0891)")
    remember(cleaned)
    return cleaned


def remember(value: str | None) -> None:
    """Redact ``value`` from now on (ignored when shorter than :data:`MIN_REDACTED`)."""
    global _pattern
    if not value or len(value.strip()) < MIN_REDACTED:
        return
    forms = {value, value.strip(), value.encode("unicode_escape").decode("ascii"),
             repr(value)[1:-1], value.rstrip("\r\n")}
    with _lock:
        new = {f for f in forms if len(f) >= MIN_REDACTED} - _values
        if not new:
            return
        _values.update(new)
        # longest first, so a value that contains another is replaced whole
        _pattern = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``[REDACTED]``."""
    pattern = _pattern
    if pattern is None or not isinstance(text, str):
        return text
    return pattern.sub(REDACTED, text)


def redact_value(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with secrets redacted in
    every string, keys included; other values unchanged."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value) if isinstance(value, list) else tuple(
            redact_value(v) for v in value)
    return value


def active() -> bool:
    """Is any secret remembered (so redaction has work to do)?"""
    return _pattern is not None


def forget_all() -> None:
    """Forget every remembered value (tests)."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None
