"""``${VAR}`` substitution in registry strings, as in the seed Rustagent's
config (``api_key = "${ANTHROPIC_API_KEY}"``).

Forms: ``${VAR}`` (must be set), ``${VAR:-default}`` (default when unset or
empty), and ``$$`` for a literal ``$``. Substitution happens only when a run
needs the value (a provider is constructed), never when a workflow is
checked, so ``ragc check`` works without any API key.
"""

from __future__ import annotations

import re
from typing import Mapping

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariable(KeyError):
    """A ``${VAR}`` without default whose variable is unset or empty."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"environment variable `{self.name}` is not set"


def references(text: str) -> list[str]:
    """Names of the variables ``text`` refers to, in order."""
    return [m.group(1) for m in _VAR.finditer(text) if m.group(1)]


def malformed(text: str) -> str | None:
    """The first ``${`` of ``text`` that does not start a well-formed
    ``${VAR}`` / ``${VAR:-default}`` reference (``"${FOO"``, ``"${1X}"``),
    up to its closing ``}`` if any; ``None`` when every reference is
    well formed. :func:`substitute` would leave such text as written."""
    i = 0
    while True:
        i = text.find("$", i)
        if i == -1:
            return None
        m = _VAR.match(text, i)
        if m:
            i = m.end()
            continue
        if text.startswith("${", i):
            end = text.find("}", i)
            return text[i:end + 1] if end != -1 else text[i:]
        i += 1


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` in ``text`` from ``env``.

    Raises:
        UnsetVariable: a variable without default is unset or empty.
    """

    def repl(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise UnsetVariable(name)

    return _VAR.sub(repl, text)
