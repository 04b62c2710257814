"""Fault injection and request accounting for the fake upstream.

``Faults`` holds one global ``FaultSettings`` and one per provider; a provider's setting, when set,
overrides the global one. For each request ``decide`` returns what to do, in this order:

1. ``hang_next`` (provider, then global): hang this request, and count one down;
2. ``timeout``: hang every request (never answer until the client gives up, or ``release``/``reset``);
3. ``fail_next``: answer an error with ``status``, and count one down;
4. ``error_rate``: answer an error with ``status`` with this probability (a seeded ``random.Random``);
5. otherwise answer normally.

``latency_ms`` (plus up to ``jitter_ms``, seeded) is how long after its arrival a request is answered (the
answer is made meanwhile), slept on trio's clock, so under a ``MockClock`` it passes only when the test moves
the clock; a hang starts after it. An injected 429 carries ``Retry-After`` (``retry_after``, default 1); a 503
carries it when ``retry_after`` is set.

``RequestLog`` counts every request the providers receive (control calls are not counted): by provider,
by route (``"GET /isbn/{isbn}.json"``) and by path, keeps the recent ones (time, query, headers, status)
and lets a test wait until a number of requests has arrived.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import trio

__all__ = ["Decision", "FaultSettings", "Faults", "RecordedRequest", "RequestLog", "UNSET"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(slots=True)
class FaultSettings:
    """One scope's settings; ``None`` means "not set here" (a provider then follows the global scope)."""

    latency_ms: float | None = None
    jitter_ms: float | None = None
    error_rate: float | None = None
    status: int | None = None
    retry_after: float | str | None = None
    timeout: bool | None = None
    fail_next: int = 0
    hang_next: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SETTING_NAMES = frozenset(f.name for f in fields(FaultSettings))
DEFAULTS = FaultSettings(latency_ms=0.0, jitter_ms=0.0, error_rate=0.0, status=503, retry_after=None, timeout=False)


@dataclass(frozen=True, slots=True)
class Decision:
    latency: float  # seconds
    action: Literal["answer", "error", "hang"]
    status: int = 200
    retry_after: str | None = None


class Faults:
    """Fault settings, global and per provider, and the requests currently held by a hang."""

    def __init__(self, providers: tuple[str, ...], *, seed: int = 0) -> None:
        self.providers = providers
        self.global_settings = FaultSettings()
        self.provider_settings: dict[str, FaultSettings] = {p: FaultSettings() for p in providers}
        self._seed = seed
        self.held = 0  # requests held by a hang right now
        self._random = random.Random(seed)
        self._release = trio.Event()

    # -- changing ------------------------------------------------------------------------------------

    def set(
        self,
        provider: str | None = None,
        *,
        latency_ms: float | None = UNSET,
        jitter_ms: float | None = UNSET,
        error_rate: float | None = UNSET,
        status: int | None = UNSET,
        retry_after: float | str | None = UNSET,
        timeout: bool | None = UNSET,
        fail_next: int = UNSET,
        hang_next: int = UNSET,
    ) -> None:
        """Change the given settings of one provider (or the global scope); ``None`` unsets a setting."""
        values = {
            "latency_ms": latency_ms,
            "jitter_ms": jitter_ms,
            "error_rate": error_rate,
            "status": status,
            "retry_after": retry_after,
            "timeout": timeout,
            "fail_next": fail_next,
            "hang_next": hang_next,
        }
        self.update(provider, {k: v for k, v in values.items() if v is not UNSET})

    def update(self, provider: str | None, values: dict[str, Any]) -> None:
        """``set`` from a mapping (the control API's JSON); raises ``ValueError`` on a bad name or value."""
        target = self._scope(provider)
        checked = {name: _check(name, value) for name, value in values.items()}
        if checked.get("timeout") is False or checked.get("hang_next") == 0:
            self.release()
        for name, value in checked.items():
            if name in ("fail_next", "hang_next") and value is None:
                value = 0
            setattr(target, name, value)

    def fail_next(
        self, count: int, *, status: int = 503, retry_after: float | str | None = None, provider: str | None = None
    ) -> None:
        """The next ``count`` requests (to ``provider``, or to any) answer ``status``."""
        self.update(provider, {"fail_next": count, "status": status, "retry_after": retry_after})

    def hang_next(self, count: int, *, provider: str | None = None) -> None:
        """The next ``count`` requests (to ``provider``, or to any) are never answered."""
        self.update(provider, {"hang_next": count})

    def seed(self, seed: int) -> None:
        self._seed = seed
        self._random = random.Random(seed)

    def release(self) -> None:
        """Let every request held by a hang go on (they answer normally)."""
        self._release.set()
        self._release = trio.Event()

    def reset(self, provider: str | None = None) -> None:
        """Clear the settings of ``provider`` (or of every scope), re-seed, and release held requests."""
        if provider is None:
            self.global_settings = FaultSettings()
            self.provider_settings = {p: FaultSettings() for p in self.providers}
            self._random = random.Random(self._seed)
        else:
            self.provider_settings[self._name(provider)] = FaultSettings()
        self.release()

    # -- reading -------------------------------------------------------------------------------------

    def effective(self, provider: str) -> FaultSettings:
        """The settings a request to ``provider`` sees (counters are the provider's own, else global)."""
        own = self.provider_settings[provider]
        out = FaultSettings()
        for name in SETTING_NAMES - {"fail_next", "hang_next"}:
            value = getattr(own, name)
            if value is None:
                value = getattr(self.global_settings, name)
            if value is None:
                value = getattr(DEFAULTS, name)
            setattr(out, name, value)
        out.fail_next = own.fail_next or self.global_settings.fail_next
        out.hang_next = own.hang_next or self.global_settings.hang_next
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "global": self.global_settings.as_dict(),
            "providers": {p: s.as_dict() for p, s in self.provider_settings.items()},
            "seed": self._seed,
            "held": self.held,
        }

    def decide(self, provider: str) -> Decision:
        own = self.provider_settings[provider]
        settings = self.effective(provider)
        latency = float(settings.latency_ms or 0.0)
        if settings.jitter_ms:
            latency += self._random.uniform(0.0, float(settings.jitter_ms))
        latency /= 1000.0
        if self._take(own, "hang_next") is not None or settings.timeout:
            return Decision(latency, "hang")
        # an error takes its status and Retry-After from the scope that caused it
        scope = self._take(own, "fail_next")
        if scope is None and settings.error_rate and self._random.random() < float(settings.error_rate):
            scope = own if own.error_rate is not None else self.global_settings
        if scope is None:
            return Decision(latency, "answer")
        chain = (own, self.global_settings, DEFAULTS) if scope is own else (self.global_settings, DEFAULTS)
        status = int(next(s.status for s in chain if s.status is not None))
        retry_after = next((s.retry_after for s in chain if s.retry_after is not None), None)
        return Decision(latency, "error", status, _retry_after(status, retry_after))

    async def hold(self) -> None:
        """Wait until ``release`` (or ``reset``); ``held`` counts the requests waiting here."""
        self.held += 1
        try:
            await self._release.wait()
        finally:
            self.held -= 1

    # -- helpers -------------------------------------------------------------------------------------

    def _take(self, own: FaultSettings, name: str) -> FaultSettings | None:
        """Count one down from ``name`` of ``own`` or else of the global scope: the scope, or None."""
        for scope in (own, self.global_settings):
            if getattr(scope, name) > 0:
                setattr(scope, name, getattr(scope, name) - 1)
                return scope
        return None

    def _scope(self, provider: str | None) -> FaultSettings:
        if provider is None:
            return self.global_settings
        return self.provider_settings[self._name(provider)]

    def _name(self, provider: str) -> str:
        if provider not in self.provider_settings:
            raise ValueError(f"unknown provider {provider!r} (one of {', '.join(self.providers)})")
        return provider


def _retry_after(status: int, value: float | str | None) -> str | None:
    if value is None:
        return "1" if status == 429 else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _check(name: str, value: Any) -> Any:
    if name not in SETTING_NAMES:
        raise ValueError(f"unknown setting {name!r}")
    if value is None:
        return None
    number = (int, float)
    if name in ("latency_ms", "jitter_ms"):
        if isinstance(value, bool) or not isinstance(value, number) or value < 0:
            raise ValueError(f"{name} must be a number ≥ 0")
        return float(value)
    if name == "error_rate":
        if isinstance(value, bool) or not isinstance(value, number) or not 0 <= value <= 1:
            raise ValueError("error_rate must be a number from 0 to 1")
        return float(value)
    if name == "status":
        if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        return value
    if name == "retry_after":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("retry_after must be seconds or an HTTP date")
        return float(value) if isinstance(value, number) else value
    if name == "timeout":
        if not isinstance(value, bool):
            raise ValueError("timeout must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:  # fail_next, hang_next
        raise ValueError(f"{name} must be an integer ≥ 0")
    return value


# -- the request log ----------------------------------------------------------------------------------


@dataclass(slots=True)
class RecordedRequest:
    at: float  # trio.current_time() when it arrived
    provider: str
    route: str
    method: str
    path: str  # after the provider prefix
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None  # once answered; None while in flight or when never answered
    fault: str | None = None  # "error" or "hang" when a fault was injected

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["body"] = self.body.decode("utf-8", "replace")
        return out


@dataclass
class RequestLog:
    """Counts of every request the fake providers received, and the most recent ones."""

    keep: int = 10_000
    total: int = 0
    providers: Counter[str] = field(default_factory=Counter)
    routes: Counter[tuple[str, str]] = field(default_factory=Counter)
    paths: Counter[tuple[str, str]] = field(default_factory=Counter)
    recent: deque[RecordedRequest] = field(init=False)
    _changed: trio.Event = field(default_factory=trio.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.keep)

    def record(self, entry: RecordedRequest) -> None:
        self.total += 1
        self.providers[entry.provider] += 1
        self.routes[(entry.provider, entry.route)] += 1
        self.paths[(entry.provider, entry.path)] += 1
        self.recent.append(entry)
        self._changed.set()
        self._changed = trio.Event()

    def count(self, provider: str | None = None, route: str | None = None, path: str | None = None) -> int:
        """How many requests arrived (since the last ``reset``), narrowed by provider, route or path."""
        if route is not None:
            return sum(n for (p, r), n in self.routes.items() if r == route and provider in (None, p))
        if path is not None:
            return sum(n for (p, q), n in self.paths.items() if q == path and provider in (None, p))
        return self.total if provider is None else self.providers[provider]

    def log(self, provider: str | None = None, route: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.recent if provider in (None, r.provider) and route in (None, r.route)]

    def max_in_window(self, seconds: float, provider: str | None = None) -> int:
        """The most requests (to ``provider``, or to any) that arrived within any ``seconds``-long window
        (among the kept ones): a budget check."""
        times = sorted(r.at for r in self.recent if provider in (None, r.provider))
        best = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def wait_for(self, count: int, provider: str | None = None) -> None:
        """Return once at least ``count`` requests (to ``provider``, or to any) have arrived."""
        while self.count(provider) < count:
            await self._changed.wait()

    def reset(self) -> None:
        self.total = 0
        self.providers.clear()
        self.routes.clear()
        self.paths.clear()
        self.recent.clear()

    def snapshot(self, *, log: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {
            "total": self.total,
            "providers": dict(self.providers),
            "routes": {p: {r: n for (q, r), n in self.routes.items() if q == p} for p in self.providers},
            "paths": {p: {path: n for (q, path), n in self.paths.items() if q == p} for p in self.providers},
        }
        if log:
            out["log"] = [r.as_dict() for r in list(self.recent)[-log:]]
        return out
