"""Channel reducers: how a write combines with a channel's current value.

A reducer here is ``fn(current, update, owned) -> new``. ``owned`` says the
calling frame created ``current`` itself and nobody else holds it, so the
reducer may mutate it in place (appending to a 10 000-item list is then
O(1)); otherwise it must build a new value (copy-on-write: see
:mod:`ragc.runtime.channels`). The caller treats the returned container as
owned afterwards for the reducers in :data:`MUTABLE` and as shared for the
others.

Semantics (``docs/runtime.md``):

========== ==================================================================
last       the update replaces the value
append     a list update is concatenated (like ``operator.add``); any other
           value is appended as one item
messages   like append, but a message whose ``id`` is already present replaces
           that message in place (merge by id, as LangGraph's
           ``add_messages``); writes are normalised to message dicts before
           they reach the reducer (:func:`normalize_messages`)
merge      dict update (shallow: ``{**current, **update}``)
sum        ``current + update`` (``None`` counts as 0)
union      append the update's items that are not present yet (order kept)
min, max   the smaller / larger of current and update (``None`` is absent)
custom     a registry ``[reducers.NAME]`` function ``f(current, update)``
           that must not mutate ``current``
========== ==================================================================

``max_items`` bounds append and messages channels: the oldest items are
dropped.
"""

from __future__ import annotations

from typing import Any, Callable

Reduce = Callable[[Any, Any, bool], Any]

MUTABLE = frozenset({"append", "messages", "merge", "union"})
"""Reducers whose result container the frame owns (and may mutate later)."""


def identity(reducer: str) -> Any:
    """The initial value of a channel without ``default``: ``[]`` for
    append/messages/union, ``{}`` for merge, ``0`` for sum, else ``None``."""
    if reducer in ("append", "messages", "union"):
        return []
    if reducer == "merge":
        return {}
    if reducer == "sum":
        return 0
    return None


def r_last(current: Any, update: Any, owned: bool) -> Any:
    return update


def r_append(current: Any, update: Any, owned: bool) -> Any:
    if current is None:
        current = []
        owned = True
    elif not owned:
        current = list(current)
    if type(update) is list:
        current.extend(update)
    else:
        current.append(update)
    return current


def r_messages(current: Any, update: Any, owned: bool) -> Any:
    if current is None:
        current = []
    elif not owned:
        current = list(current)
    items = update if type(update) is list else (update,)
    for msg in items:
        mid = msg.get("id") if isinstance(msg, dict) else None
        if mid is not None:
            for i in range(len(current) - 1, -1, -1):
                old = current[i]
                if isinstance(old, dict) and old.get("id") == mid:
                    current[i] = msg
                    break
            else:
                current.append(msg)
        else:
            current.append(msg)
    return current


def r_merge(current: Any, update: Any, owned: bool) -> Any:
    if not isinstance(update, dict):
        raise TypeError(f"a merge channel takes an object, got {type(update).__name__}")
    if current is None:
        return dict(update)
    if not owned:
        current = dict(current)
    current.update(update)
    return current


def r_sum(current: Any, update: Any, owned: bool) -> Any:
    if current is None:
        return update
    if update is None:
        return current
    return current + update


def r_union(current: Any, update: Any, owned: bool) -> Any:
    if current is None:
        current = []
    elif not owned:
        current = list(current)
    items = update if type(update) is list else (update,)
    for x in items:
        if x not in current:
            current.append(x)
    return current


def r_min(current: Any, update: Any, owned: bool) -> Any:
    if update is None:
        return current
    if current is None:
        return update
    return update if update < current else current


def r_max(current: Any, update: Any, owned: bool) -> Any:
    if update is None:
        return current
    if current is None:
        return update
    return update if update > current else current


BUILTIN: dict[str, Reduce] = {
    "last": r_last,
    "append": r_append,
    "messages": r_messages,
    "merge": r_merge,
    "sum": r_sum,
    "union": r_union,
    "min": r_min,
    "max": r_max,
}


def bounded(fn: Reduce, max_items: int) -> Reduce:
    """Wrap a list reducer so the result keeps only the last ``max_items`` items."""

    def reduce_bounded(current: Any, update: Any, owned: bool) -> Any:
        out = fn(current, update, owned)
        extra = len(out) - max_items
        if extra > 0:
            del out[:extra]
        return out

    return reduce_bounded


def custom(fn: Callable[[Any, Any], Any]) -> Reduce:
    """Adapt a registry reducer ``f(current, update) -> new`` (pure)."""

    def reduce_custom(current: Any, update: Any, owned: bool) -> Any:
        return fn(current, update)

    return reduce_custom


def normalize_messages(value: Any, node: str, msg_id: str) -> Any:
    """Turn a value written to a ``messages`` channel into message dicts.

    A string becomes ``{"id": msg_id, "role": "assistant", "name": node,
    "content": text}``; a pydantic message (``ragc.harness.types.Message``)
    becomes its dict; a dict is kept (an ``id`` is added when missing); a
    list is normalised item by item (ids ``msg_id.1``, ``msg_id.2``...);
    anything else becomes an assistant message with its JSON text.
    """
    if isinstance(value, str):
        return {"id": msg_id, "role": "assistant", "name": node, "content": value}
    if isinstance(value, list):
        return [normalize_messages(v, node, f"{msg_id}.{i}") for i, v in enumerate(value, start=1)]
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        value = dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        if "role" in value:
            if not value.get("id"):
                value = {**value, "id": msg_id}
            return value
    import json

    return {"id": msg_id, "role": "assistant", "name": node, "content": json.dumps(value, default=str)}
