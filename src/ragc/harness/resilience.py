"""Resilience around providers: retry with backoff, fallback models, API-key
rotation, circuit breakers, de-duplication and backpressure.

Providers make exactly one attempt and classify every failure with a
:class:`~ragc.harness.errors.ProviderError` ``kind``; this module decides what
to do about it (seed 003's resilience layer and seed 004's orchestrator
primitives):

* **Retry** only retryable kinds (:data:`~ragc.harness.errors.RETRYABLE_KINDS`)
  up to the model's ``max_retries``, sleeping an exponential backoff with full
  jitter (:func:`backoff_delay`: ``uniform(0, min(cap, base * 2**(n-1)))``,
  cap 60 s), at least the server's ``Retry-After`` when it sent one (also
  capped). A node's ``retry { }`` uses the same function.
* **Truncated streams** (``stream_cut``) are retried once without streaming,
  without using up a retry.
* **Key rotation**: a model with several ``api_keys`` gets one provider
  instance per key; an auth, billing or rate-limit error puts that key in a
  cooldown (auth/billing: long; rate limit: ``Retry-After`` or a default) and
  the call moves on to the next available key at once.
* **Circuit breaker** per model: ``closed`` → ``open`` after
  ``breaker_threshold`` consecutive failed attempts (backend failures, not
  bad requests) → ``half_open`` after ``breaker_recovery_s`` (one probe call
  allowed) → ``closed`` when the probe succeeds, ``open`` again when it fails.
  An open breaker fails calls immediately with kind ``circuit_open``.
* **Fallbacks**: when a model still fails (after its retries, or because its
  breaker is open), the entry's ``fallbacks`` are tried in order;
  :attr:`ModelResponse.model` names the model that answered. A
  ``context_overflow`` is never handed to a fallback: the agent loop compacts
  the history instead.
* **De-duplication**: identical requests in flight at the same time (same
  model, same request apart from message ids) make one call and share its
  result.
* **Backpressure**: at most ``max_in_flight`` provider calls per model at a
  time; further calls wait.

Usage and cost are filled in here: ``usage.model_calls = 1`` and
``usage.cost_usd`` from the ``price`` of the model that answered.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Mapping

import anyio

from ragc.harness.errors import KEY_ROTATION_KINDS, RETRYABLE_KINDS, ConfigError, ProviderError
from ragc.harness.providers.base import Provider
from ragc.harness.types import DeltaCallback, ModelRequest, ModelResponse
from ragc.kinds import BACKOFF_SCHEDULES
from ragc.registry.model import ModelEntry

BREAKER_KINDS = RETRYABLE_KINDS | {"not_found", "unavailable"}
"""Failure kinds that count against a model's circuit breaker (backend
trouble; bad requests, context overflow and key errors do not)."""

RetryCallback = Callable[[int, float, ProviderError, str], None]
"""``on_retry(attempt, delay_s, error, model)``: called before each retry sleep."""


@dataclass(frozen=True)
class ResilienceSettings:
    """Tunables of the resilience layer (the per-model ``max_retries`` and
    ``timeout`` come from the registry entry).

    Attributes:
        base_delay_s: first backoff ceiling in seconds (doubles per retry).
        max_delay_s: cap of any sleep, backoff or ``Retry-After``, in seconds.
        breaker_threshold: consecutive failed attempts that open a model's breaker.
        breaker_recovery_s: seconds an open breaker waits before a half-open probe.
        tool_breaker_threshold / tool_breaker_recovery_s: the same for tools.
        max_in_flight: concurrent provider calls per model (backpressure).
        auth_cooldown_s / billing_cooldown_s: how long a key that failed with
            auth / billing stays out of rotation, in seconds.
        rate_limit_cooldown_s: key cooldown after a 429 without ``Retry-After``.
        dedup: share the result of identical in-flight requests.
    """

    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    breaker_threshold: int = 5
    breaker_recovery_s: float = 30.0
    tool_breaker_threshold: int = 5
    tool_breaker_recovery_s: float = 30.0
    max_in_flight: int = 8
    auth_cooldown_s: float = 3600.0
    billing_cooldown_s: float = 3600.0
    rate_limit_cooldown_s: float = 30.0
    dedup: bool = True


def backoff_delay(attempt: int, *, initial_s: float, max_s: float, schedule: str = "exponential",
                  jitter: bool = True, retry_after_s: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to sleep after failed attempt number ``attempt`` (1-based),
    before the next one. The one backoff of ragc: the resilience layer's
    provider retries and a node's ``retry { }`` both use it.

    Args:
        attempt: how many attempts have failed so far (>= 1).
        initial_s: the first delay in seconds (``retry { initial }``, or
            :attr:`ResilienceSettings.base_delay_s`).
        max_s: cap of the delay in seconds, ``Retry-After`` included.
        schedule: ``exponential`` (``initial * 2**(attempt-1)``), ``linear``
            (``initial * attempt``) or ``fixed`` (``initial``); see
            :data:`BACKOFF_SCHEDULES`.
        jitter: draw the delay uniformly from ``[0, delay]`` ("full jitter",
            M. Brooker, *Exponential Backoff And Jitter*, AWS Architecture
            Blog, 2015) so that clients failing together do not retry together.
        retry_after_s: the server's ``Retry-After`` in seconds, if it sent
            one: the delay is at least that (RFC 9110 section 10.2.3: how long
            the client ought to wait), still capped at ``max_s``. ``None`` or a
            negative value is ignored.
        rng: the random source of the jitter (default: the ``random`` module).

    Raises:
        ValueError: an unknown ``schedule`` (the checker only lets the three through).
    """
    if schedule == "exponential":
        delay = initial_s * (2 ** max(0, attempt - 1))
    elif schedule == "linear":
        delay = initial_s * max(1, attempt)
    elif schedule == "fixed":
        delay = initial_s
    else:
        raise ValueError(f"unknown backoff schedule {schedule!r}; expected one of {', '.join(BACKOFF_SCHEDULES)}")
    delay = min(delay, max_s)
    if jitter:
        delay = (rng or random).uniform(0.0, delay)
    if retry_after_s is not None and retry_after_s >= 0:
        delay = max(delay, min(float(retry_after_s), max_s))
    return delay


_NODE_RETRIED_KINDS: ContextVar[frozenset[str]] = ContextVar("ragc_node_retried_kinds", default=frozenset())

ResilienceNotice = Callable[[str, str, str, float], None]
"""``notice(what, scope, target, value)``: ``what`` is ``breaker_opened``
(``value``: the seconds it stays open) or ``backpressure_wait`` (``value``:
seconds a call waited for a slot); ``scope`` ``model`` or ``tool``;
``target`` the model or tool name."""

_NOTICE: ContextVar[ResilienceNotice | None] = ContextVar("ragc_resilience_notice", default=None)


@contextmanager
def resilience_notices(notice: ResilienceNotice | None) -> Iterator[None]:
    """Within the ``with`` block (and the tasks it starts), breakers that
    open and calls that wait for a model's ``max_in_flight`` slot are told
    to ``notice`` (the harness turns them into ``BreakerOpened`` and
    ``BackpressureWait`` events). ``notice`` must not block or raise."""
    token = _NOTICE.set(notice)
    try:
        yield
    finally:
        _NOTICE.reset(token)


def notify(what: str, scope: str, target: str, value: float) -> None:
    """Tell the current :func:`resilience_notices` sink, if any."""
    notice = _NOTICE.get()
    if notice is not None:
        notice(what, scope, target, value)


@contextmanager
def node_retries(kinds: Iterable[str]) -> Iterator[None]:
    """Within the ``with`` block, model calls do not retry failures of these
    kinds: the node's own ``retry { }`` retries them (one layer per kind, so
    node attempts and provider retries never multiply; ``docs/runtime.md``,
    "How node and provider retries compose").

    The runtime enters it around each attempt of a node with ``retry``
    (:func:`ragc.runtime.limits.run_attempts`), adding its kinds to those an
    enclosing node already owns. The setting is a context variable, so it
    follows the attempt into the tasks it starts (an agent's sub-agents, a
    subgraph's nodes) and nowhere else.

    Args:
        kinds: :class:`~ragc.kinds.ErrorKind` values (or their strings); an
            empty iterable gives every transient kind back to the provider layer.
    """
    token = _NODE_RETRIED_KINDS.set(frozenset(kinds))
    try:
        yield
    finally:
        _NODE_RETRIED_KINDS.reset(token)


def node_retried_kinds() -> frozenset[str]:
    """The kinds the current node's ``retry`` owns (see :func:`node_retries`);
    empty outside a node attempt."""
    return _NODE_RETRIED_KINDS.get()


class CircuitBreaker:
    """Consecutive-failure circuit breaker (seed 004's ``CircuitBreaker``).

    States: ``closed`` (calls pass), ``open`` (calls refused until
    ``recovery_s`` seconds after it opened), ``half_open`` (one probe call at a
    time passes; success closes, failure re-opens).

    Args:
        threshold: consecutive failures that open the breaker (>= 1).
        recovery_s: seconds before an open breaker lets a probe through.
        clock: monotonic clock in seconds (injectable for tests).
        scope: ``model`` or ``tool`` (what it guards), for the
            ``breaker_opened`` notice (:func:`resilience_notices`); ``""``: none.
        target: the model or tool name.
    """

    def __init__(self, threshold: int = 5, recovery_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 *, scope: str = "", target: str = ""):
        self.scope = scope
        self.target = target
        self.threshold = max(1, threshold)
        self.recovery_s = recovery_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened_count = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.recovery_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go through now? In ``half_open`` only one probe may be
        outstanding; it must be followed by :meth:`record_success` or
        :meth:`record_failure` (or :meth:`release`)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def release(self) -> None:
        """End a probe without a verdict (the call was cancelled or failed
        for a reason that does not count)."""
        self._probing = False

    def record_success(self) -> None:
        """A call succeeded: close the breaker and reset the failure count."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        """A call failed: open the breaker at the threshold, or re-open it
        when the half-open probe failed."""
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            opened = self._opened_at is None or self._probing
            if opened:
                self.opened_count += 1
            self._opened_at = self._clock()
            if opened and self.scope:
                notify("breaker_opened", self.scope, self.target, self.recovery_s)
        self._probing = False

    def retry_in(self) -> float:
        """Seconds until an open breaker half-opens (0 if not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.recovery_s - (self._clock() - self._opened_at))


@dataclass
class _KeySlot:
    key: str | None
    provider: Provider | None = None
    cooldown_until: float = 0.0
    last_error: ProviderError | None = None


@dataclass
class ResilienceStats:
    """Counters (seed 004's metrics): attempts made, retries, key rotations,
    fallbacks taken, calls refused by an open breaker, de-duplicated calls,
    and failures not retried here because the node's ``retry`` owns their
    kind (``left_to_node``, see :func:`node_retries`)."""

    attempts: int = 0
    retries: int = 0
    rotations: int = 0
    fallbacks: int = 0
    circuit_rejections: int = 0
    dedup_hits: int = 0
    left_to_node: int = 0


ProviderFactory = Callable[[str, ModelEntry, "str | None"], Provider]
"""``factory(name, entry, api_key) -> Provider`` (see :func:`ragc.harness.providers.create_provider`)."""


class ModelPool:
    """One registry model behind the resilience layer: a provider per API
    key, the model's circuit breaker and its in-flight limit.

    Args:
        name: registry name.
        entry: the registry entry (``max_retries`` is read from it).
        keys: substituted API keys in rotation order (``[None]`` when none).
        factory: builds the provider for one key (called lazily, once per key).
        settings: the shared :class:`ResilienceSettings`.
        stats: shared counters.
    """

    def __init__(self, name: str, entry: ModelEntry, keys: list[str | None], factory: ProviderFactory,
                 settings: ResilienceSettings, stats: ResilienceStats):
        self.name = name
        self.entry = entry
        self.settings = settings
        self.stats = stats
        self._factory = factory
        self._slots = [_KeySlot(k) for k in keys] or [_KeySlot(None)]
        self._current = 0
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_recovery_s, scope="model",
                                      target=name)
        self.limiter = anyio.CapacityLimiter(max(1, settings.max_in_flight))

    def _provider(self, slot: _KeySlot) -> Provider:
        if slot.provider is None:
            slot.provider = self._factory(self.name, self.entry, slot.key)
        return slot.provider

    def providers(self) -> list[Provider]:
        """The provider of every key slot (built now if not yet)."""
        return [self._provider(slot) for slot in self._slots]

    def _available_slot(self, now: float) -> _KeySlot | None:
        n = len(self._slots)
        for i in range(n):
            idx = (self._current + i) % n
            if self._slots[idx].cooldown_until <= now:
                self._current = idx
                return self._slots[idx]
        return None

    async def _pick_slot(self) -> _KeySlot:
        now = time.monotonic()
        slot = self._available_slot(now)
        if slot is not None:
            return slot
        soonest = min(self._slots, key=lambda s: s.cooldown_until)
        wait = soonest.cooldown_until - now
        if wait > self.settings.max_delay_s:
            assert soonest.last_error is not None
            raise ProviderError(
                f"model `{self.name}`: every API key is cooling down after errors; last: {soonest.last_error}",
                kind=soonest.last_error.kind, provider=self.entry.provider, model=self.name,
                status=soonest.last_error.status, hint=soonest.last_error.hint or "check the API keys")
        await anyio.sleep(wait)
        self._current = self._slots.index(soonest)
        return soonest

    def _cooldown(self, err: ProviderError) -> float:
        if err.kind == "auth":
            return self.settings.auth_cooldown_s
        if err.kind == "billing":
            return self.settings.billing_cooldown_s
        return err.retry_after_s if err.retry_after_s is not None else self.settings.rate_limit_cooldown_s

    @staticmethod
    def _streaming(entry: ModelEntry, request: ModelRequest) -> bool:
        return bool(request.params.get("stream", entry.stream))

    async def call(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None,
                   on_retry: RetryCallback | None = None) -> ModelResponse:
        """One request with retries and key rotation against this model only.

        Raises:
            ProviderError: the last error once retries are exhausted or the
                error is not retryable; kind ``circuit_open`` when the breaker
                refuses the call.
        """
        retries = 0
        rotations = 0
        stream_fallback_done = False
        req = request
        while True:
            slot = await self._pick_slot()
            if not self.breaker.allow():
                self.stats.circuit_rejections += 1
                raise ProviderError(
                    f"model `{self.name}`: circuit breaker is open after repeated failures "
                    f"(retry in {self.breaker.retry_in():.1f}s)",
                    kind="circuit_open", provider=self.entry.provider, model=self.name,
                    hint="the backend keeps failing; check it or configure `fallbacks`")
            self.stats.attempts += 1
            try:
                queued_at = time.monotonic() if self.limiter.available_tokens <= 0 else None
                async with self.limiter:
                    if queued_at is not None:  # waited behind the model's max_in_flight
                        notify("backpressure_wait", "model", self.name, time.monotonic() - queued_at)
                    provider = self._provider(slot)
                    response = await provider.complete(req, on_delta=on_delta)
            except ProviderError as err:
                if err.kind in BREAKER_KINDS:
                    self.breaker.record_failure()
                else:
                    self.breaker.release()
                slot.last_error = err
                if err.kind in KEY_ROTATION_KINDS and len(self._slots) > 1 and rotations < 2 * len(self._slots):
                    slot.cooldown_until = time.monotonic() + self._cooldown(err)
                    if self._available_slot(time.monotonic()) is not None:
                        rotations += 1
                        self.stats.rotations += 1
                        continue
                if err.kind == "stream_cut" and self._streaming(self.entry, req) and not stream_fallback_done:
                    stream_fallback_done = True
                    req = req.model_copy(update={"params": {**req.params, "stream": False}})
                    self.stats.retries += 1
                    if on_retry is not None:
                        on_retry(retries + 1, 0.0, err, self.name)
                    continue
                if not err.retryable or retries >= self.entry.max_retries:
                    raise
                if err.kind in _NODE_RETRIED_KINDS.get():
                    self.stats.left_to_node += 1
                    raise  # the node's retry owns this kind: retrying here too would multiply attempts
                retries += 1
                self.stats.retries += 1
                delay = backoff_delay(retries, initial_s=self.settings.base_delay_s, max_s=self.settings.max_delay_s,
                                      retry_after_s=err.retry_after_s)
                if on_retry is not None:
                    on_retry(retries, delay, err, self.name)
                await anyio.sleep(delay)
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            return response

    async def aclose(self) -> None:
        """Close the providers built for this model."""
        for slot in self._slots:
            if slot.provider is not None:
                await slot.provider.aclose()
                slot.provider = None


class _Flight:
    __slots__ = ("done", "result", "error", "abandoned")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: ModelResponse | None = None
        self.error: Exception | None = None
        self.abandoned = False


def request_fingerprint(model: str, request: ModelRequest) -> str:
    """A digest of ``request`` for de-duplication: message ids are left out
    (they are never sent to a provider), everything else counts."""
    data = request.model_dump(mode="json", exclude={"messages": {"__all__": {"id"}}})
    blob = json.dumps([model, data], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ResilientModel:
    """The :class:`~ragc.harness.types.ModelClient` for one registry model:
    de-duplication, then the model and its fallbacks in order, each through
    its :class:`ModelPool`."""

    def __init__(self, name: str, layer: "ResilienceLayer"):
        self.name = name
        self._layer = layer
        self._inflight: dict[str, _Flight] = {}

    @property
    def chain(self) -> list[str]:
        """This model followed by its fallbacks (each once, in order)."""
        out = [self.name]
        for fb in self._layer.entry(self.name).fallbacks:
            if fb not in out:
                out.append(fb)
        return out

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None,
                       on_retry: RetryCallback | None = None) -> ModelResponse:
        """Answer ``request`` (see the module doc for the policy).

        Args:
            request: the provider-neutral request.
            on_delta: receives streamed fragments (only when the model streams).
            on_retry: ``on_retry(attempt, delay_s, error, model)`` before each retry.

        Raises:
            ProviderError: every model of the chain failed; the error of the
                requested model is raised (its message lists the fallbacks'
                errors). ``context_overflow`` is raised at once.
            ConfigError: the requested model cannot be constructed (unset
                ``${VAR}``, unknown provider...).
        """
        if not self._layer.settings.dedup:
            return await self._complete_chain(request, on_delta, on_retry)
        key = request_fingerprint(self.name, request)
        while (flight := self._inflight.get(key)) is not None:
            await flight.done.wait()
            if flight.abandoned:
                continue
            self._layer.stats.dedup_hits += 1
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result.model_copy(deep=True)
        flight = _Flight()
        self._inflight[key] = flight
        try:
            flight.result = await self._complete_chain(request, on_delta, on_retry)
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            flight.abandoned = True
            raise
        finally:
            del self._inflight[key]
            flight.done.set()

    async def _complete_chain(self, request: ModelRequest, on_delta: DeltaCallback | None,
                              on_retry: RetryCallback | None) -> ModelResponse:
        errors: list[tuple[str, Exception]] = []
        for i, name in enumerate(self.chain):
            try:
                pool = self._layer.pool(name)
            except ConfigError as exc:
                if i == 0:
                    raise
                errors.append((name, exc))
                continue
            if i > 0:
                self._layer.stats.fallbacks += 1
            try:
                response = await pool.call(request, on_delta=on_delta, on_retry=on_retry)
            except ProviderError as exc:
                if exc.kind == "context_overflow":
                    raise
                errors.append((name, exc))
                continue
            return self._finish(name, pool.entry, response)
        first = errors[0][1]
        if len(errors) == 1:
            raise first
        detail = "; ".join(f"`{n}`: {e}" for n, e in errors)
        assert isinstance(first, ProviderError)
        raise ProviderError(
            f"model `{self.name}` and its fallbacks failed: {detail}", kind=first.kind,
            provider=first.provider, model=self.name, status=first.status,
            retry_after_s=first.retry_after_s, hint=first.hint)

    @staticmethod
    def _finish(name: str, entry: ModelEntry, response: ModelResponse) -> ModelResponse:
        usage = response.usage.model_copy(update={"model_calls": 1})
        if entry.price is not None:
            usage.cost_usd = entry.price.cost(usage.input_tokens, usage.output_tokens)
        return response.model_copy(update={"model": name, "usage": usage})

    async def aclose(self) -> None:
        """Nothing to release per client; the layer owns the providers."""
        return None


@dataclass
class ResilienceLayer:
    """All model pools of one harness, built lazily from registry entries.

    Args:
        models: the registry's ``[models.*]`` entries.
        make_provider: ``make_provider(name, entry, api_key) -> Provider``.
        resolve_keys: ``resolve_keys(name, entry) -> keys`` (substitutes ``${VAR}``).
        settings: tunables.
    """

    models: Mapping[str, ModelEntry]
    make_provider: ProviderFactory
    resolve_keys: Callable[[str, ModelEntry], list]
    settings: ResilienceSettings = field(default_factory=ResilienceSettings)
    stats: ResilienceStats = field(default_factory=ResilienceStats)
    _pools: dict[str, ModelPool] = field(default_factory=dict)
    _clients: dict[str, ResilientModel] = field(default_factory=dict)

    def entry(self, name: str) -> ModelEntry:
        """The registry entry of model ``name``.

        Raises:
            ConfigError: no such model.
        """
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"unknown model `{name}`",
                              hint=f"add [models.{name}] to registry.toml (known: {known})") from None

    def pool(self, name: str) -> ModelPool:
        """The pool of ``name``, creating it (and substituting its keys) on first use."""
        pool = self._pools.get(name)
        if pool is None:
            entry = self.entry(name)
            keys = self.resolve_keys(name, entry)
            pool = ModelPool(name, entry, keys, self.make_provider, self.settings, self.stats)
            self._pools[name] = pool
        return pool

    def client(self, name: str) -> ResilientModel:
        """The cached resilient client of ``name`` (its pool is built at the first call)."""
        client = self._clients.get(name)
        if client is None:
            self.entry(name)
            client = self._clients[name] = ResilientModel(name, self)
        return client

    async def aclose(self) -> None:
        """Close every pool's providers and forget the clients."""
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
        self._clients.clear()
