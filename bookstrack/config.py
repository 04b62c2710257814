"""Typed configuration: ``config.toml`` plus ``BOOKSTRACK_<SECTION>__<KEY>`` environment overrides.

Owns the shape of every tunable (msgspec Structs, unknown keys rejected so a typo fails loudly), the
ranges a value must lie in (a zero window or thread count is refused here, naming the key, not met later
as a crash), and the rule that secrets (provider keys, the admin token) come only from the environment.
Loading is pure: it reads a file and a mapping and returns a ``Config``; nothing here opens sockets or
databases.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from bookstrack.errors import ConfigError

__all__ = ["Config", "Secrets", "load_config", "ENV_PREFIX"]

ENV_PREFIX = "BOOKSTRACK_"

DEFAULT_CORS_ORIGINS = [
    "https://bookstrack.app",
    "https://www.bookstrack.app",
    "http://localhost:3000",
    "http://localhost:8080",
    "capacitor://localhost",
    "ionic://localhost",
    "https://books.oooefam.net",
]


Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 8787
    graceful_timeout: NonNegative = 10.0
    # Longer than the idle expiry of common clients and proxies (httpx 5 s, load balancers 60 s): when
    # both sides give up on an idle connection at the same moment, a request sent on it is lost (0032).
    keep_alive_timeout: Positive = 75.0
    max_body_bytes: AtLeastOne = 1024 * 1024
    trusted_proxies: list[str] = []
    cors_allowed_origins: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS))


class StorageConfig(_Section):
    path: str = "data/bookstrack.sqlite3"
    blobs: str = "data/blobs"
    synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"


class ActorsConfig(_Section):
    idle_timeout: Positive = 60.0


class RateLimitClass(_Section):
    limit: AtLeastOne = 10
    window: Positive = 60.0


class RateLimitConfig(_Section):
    enabled: bool = True
    classes: dict[str, RateLimitClass] = msgspec.field(default_factory=lambda: {"default": RateLimitClass()})


class LogConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    access_log: bool = True


class HealthConfig(_Section):
    refresh_interval: Positive = 10.0


class CacheConfig(_Section):
    """Search cache tiers (``bookstrack/cache/``): memory LRU -> SQLite KV -> cold blobs. Times in seconds."""

    memory_max_entries: AtLeastOne = 10_000  # entries held in memory
    memory_max_bytes: AtLeastOne = 64 * 1024 * 1024  # bytes of encoded values held in memory
    isbn_ttl: Positive = 90 * 86400.0  # ISBN lookups that found a book
    title_ttl: Positive = 6 * 3600.0  # title searches
    advanced_ttl: Positive = 6 * 3600.0  # advanced (title + author) searches
    author_ttl: Positive = 6 * 3600.0  # author searches (legacy /search/author)
    editions_ttl: Positive = 7 * 86400.0  # edition searches
    wikidata_ttl: Positive = 7 * 86400.0  # Wikidata author facts
    negative_ttl: Positive = 300.0  # "no result" answers (provider errors are never cached)
    archive_after: Positive = 30 * 86400.0  # KV entries not read for this long move to the cold tier
    archive_batch: AtLeastOne = 500  # entries archived per transaction
    purge_batch: AtLeastOne = 1000  # expired rows deleted per transaction
    purge_interval: Positive = 3600.0  # seconds between purges of expired KV rows and cold entries
    read_stats_flush_interval: Positive = 60.0  # seconds between writes of buffered read statistics
    read_stats_max_pending: AtLeastOne = 10_000  # distinct keys buffered before an early flush


class OffloadConfig(_Section):
    threads: AtLeastOne = 2


class JobsConfig(_Section):
    """Long jobs and their progress streams (API.md §4)."""

    token_ttl: Positive = 7200.0  # seconds a job's auth token is valid (reference §4.3)
    refresh_window: Positive = 1800.0  # a token may be refreshed only this close to its expiry
    retention: Positive = 86400.0  # seconds a finished job's record and results are kept
    ready_grace: NonNegative = 2.0  # seconds a new WebSocket waits for the client's "ready" before catch-up
    workers_per_job: AtLeastOne = 10  # items of one job processed at once
    max_concurrent_items: AtLeastOne = 50  # items processed at once across every job (upstream protection)
    subscriber_queue: AtLeastOne = 256  # events buffered per subscriber before it counts as lagging
    sse_keepalive: Positive = 15.0  # seconds between SSE comment lines on a quiet stream
    results_require_token: bool = False  # results routes need the job's token


class ScansConfig(_Section):
    """Bookshelf scans (API.md §4, §8)."""

    confidence_threshold: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.7  # approved at or above; else review
    enrich_concurrency: AtLeastOne = 10  # detected books of one photo enriched at once


class QueueConfig(_Section):
    """One durable queue (``bookstrack/tasks/queue.py``). Times in seconds."""

    concurrency: AtLeastOne = 5  # messages of this queue processed at once
    visibility_timeout: Positive = 300.0  # a leased message not acknowledged in this time is delivered again
    max_retries: NonNegativeInt = 3  # redeliveries after a failure; the next failure makes it a dead letter
    backoff_base: Positive = 30.0  # delay before the first retry; doubles with each attempt ...
    backoff_cap: Positive = 3600.0  # ... up to this (each delay is jittered between half and all of it)


class AuthorWarmingConfig(QueueConfig):
    """The author cache-warming queue (reference §10.1) and its consumer's limits."""

    titles_per_author: NonNegativeInt = 10  # title searches per author (the first works Open Library lists)
    rewarm_after: NonNegative = 6 * 3600.0  # an author warmed this recently is skipped (title cache TTL)
    max_authors_per_upload: AtLeastOne = 5000  # unique authors one upload may enqueue


class QueuesConfig(_Section):
    """Durable queues, one sub-section per queue."""

    author_warming: AuthorWarmingConfig = msgspec.field(default_factory=AuthorWarmingConfig)


class SchedulerConfig(_Section):
    """The cron scheduler (``bookstrack/tasks/scheduler.py``): five-field cron expressions, UTC."""

    enabled: bool = True  # false: no scheduled runs (POST /api/harvest-covers still works)
    archival: str = "0 2 * * *"  # move cold cache entries to the blob store, purge expired ones
    alerts: str = "*/15 * * * *"  # evaluate the [alerts] thresholds
    cover_harvest: str = "0 3 * * *"  # fetch covers of the most-searched ISBNs ([harvest])


Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]


class AlertsConfig(_Section):
    """Alert thresholds (``bookstrack/tasks/alerts.py``), checked on each ``[scheduler] alerts`` run."""

    period: Positive = 4 * 3600.0  # seconds: one alert kind is recorded at most once per period
    error_rate: Fraction = 0.05  # share of HTTP requests answered 5xx since the last check
    min_requests: NonNegativeInt = 20  # ... counted only when at least this many requests came
    provider_failure_rate: Fraction = 0.25  # share of one provider's calls that failed since the last check
    min_provider_calls: NonNegativeInt = 10  # ... counted only when at least this many calls were made
    queue_depth: NonNegativeInt = 1000  # messages waiting in the durable queues (0: no check)
    dead_letters: NonNegativeInt = 1  # dead letters in the durable queues (0: no check)
    recent: AtLeastOne = 50  # alerts kept for the dashboard


class HarvestConfig(_Section):
    """The cover harvest (``bookstrack/tasks/harvest.py``): covers of the most-searched ISBNs into the blob store."""

    max_per_run: NonNegativeInt = 100  # covers fetched per run at most
    lookback_days: AtLeastOne = 7  # most-searched over the last this many UTC days (today included)
    budget_share: Fraction = 0.5  # stop when a provider has used this share of its daily budget
    max_cover_bytes: AtLeastOne = 5 * 1024 * 1024  # larger images are refused
    timeout: Positive = 15.0  # seconds one cover download may take
    history: AtLeastOne = 20  # harvest runs kept for the dashboard
    # Cover hosts (https only) and the provider whose request budget a download from them spends.
    cover_hosts: dict[str, str] = msgspec.field(default_factory=lambda: {
        "covers.openlibrary.org": "openlibrary",
        "books.google.com": "google_books",
        "books.googleusercontent.com": "google_books",
        "images.isbndb.com": "isbndb",
    })


class ProviderConfig(_Section):
    """One upstream provider: where it is, how long one attempt may take, and its budget (API.md §5).

    The subclasses below carry each provider's own defaults, so a section that sets only some keys
    (``BOOKSTRACK_PROVIDERS__ISBNDB__RATE_PER_SECOND=3``) keeps that provider's defaults for the rest.
    """

    base_url: str
    timeout: Positive = 10.0  # seconds one HTTP attempt may take
    rate_per_second: Positive = 1.0  # requests per second, shared by every caller (no burst: spaced 1/rate)
    per_day: NonNegativeInt = 0  # requests per UTC day; 0 = no daily cap
    max_attempts: AtLeastOne = 3  # HTTP attempts per call (retries on 5xx, 429 and transport errors)
    budget_wait: NonNegative = 5.0  # seconds a call may wait for a request slot before failing ("budget")
    deadline: Positive = 30.0  # seconds one call may take in all: slots, attempts and backoff


class GoogleBooksConfig(ProviderConfig):
    base_url: str = "https://www.googleapis.com"
    rate_per_second: Positive = 5.0
    per_day: NonNegativeInt = 1000  # the default quota of one API key (raisable in Google's console)


class OpenLibraryConfig(ProviderConfig):
    base_url: str = "https://openlibrary.org"
    rate_per_second: Positive = 3.0  # with an identifying User-Agent (1/s without)


class IsbndbConfig(ProviderConfig):
    base_url: str = "https://api2.isbndb.com"
    rate_per_second: Positive = 1.0  # the basic plan (Premium 3/s, Pro 5/s on their own hosts)
    per_day: NonNegativeInt = 1000


class WikidataConfig(ProviderConfig):
    base_url: str = "https://www.wikidata.org"
    rate_per_second: Positive = 5.0
    author_deadline: Positive = 0.25  # seconds a search waits for author facts (not the ISBN batch: decision 0016)
    max_concurrent: AtLeastOne = 4  # author lookups running at once (process-wide)


class GeminiConfig(ProviderConfig):
    base_url: str = "https://generativelanguage.googleapis.com"  # scheme + host; the client adds /v1beta/models/…
    timeout: Positive = 60.0
    rate_per_second: Positive = 1.0
    max_attempts: AtLeastOne = 2
    deadline: Positive = 150.0
    vision_model: str = "gemini-2.5-flash"  # bookshelf photos (reference §8.5.1)
    csv_model: str = "gemini-2.5-flash-lite"  # CSV layouts the deterministic parsers do not know (§8.5.2)
    # Thinking tokens count against the 8192 output tokens: -1 sends no thinkingConfig (the model's default),
    # 0 turns thinking off (2.5 Flash), N caps it at N tokens.
    thinking_budget: Annotated[int, msgspec.Meta(ge=-1)] = -1


class ProvidersConfig(_Section):
    user_agent: str = "BooksTrack/0.1 (self-hosted; https://github.com/bookstrack)"
    google_books: GoogleBooksConfig = msgspec.field(default_factory=GoogleBooksConfig)
    openlibrary: OpenLibraryConfig = msgspec.field(default_factory=OpenLibraryConfig)
    isbndb: IsbndbConfig = msgspec.field(default_factory=IsbndbConfig)
    wikidata: WikidataConfig = msgspec.field(default_factory=WikidataConfig)
    gemini: GeminiConfig = msgspec.field(default_factory=GeminiConfig)


DEFAULT_IMAGE_HOSTS = [
    "books.google.com",
    "covers.openlibrary.org",
    "images-na.ssl-images-amazon.com",
    "images.isbndb.com",
    "archive.org",  # Open Library's covers redirect to archive.org ...
    "*.us.archive.org",  # ... and on to one of its storage hosts (ia800100.us.archive.org)
]


class ImagesConfig(_Section):
    """The cover image proxy ``GET /images/proxy`` (API.md §6, decision 0027). Sizes in bytes, times in seconds."""

    allowed_schemes: list[Literal["https", "http"]] = msgspec.field(default_factory=lambda: ["https"])
    allowed_hosts: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_IMAGE_HOSTS))  # "*." = subdomains
    allow_private_addresses: bool = False  # tests and offline demos only: lets the proxy reach 127.0.0.1 etc.
    max_bytes: AtLeastOne = 5 * 1024 * 1024  # largest image fetched (enforced while streaming)
    timeout: Positive = 10.0  # one fetch in all: DNS, connects, redirects and body
    max_redirects: NonNegativeInt = 3  # redirects followed per fetch (each target checked again)
    max_concurrent_fetches: AtLeastOne = 8  # upstream fetches at once (cache hits are not limited)
    cache_max_age: NonNegativeInt = 30 * 86400  # Cache-Control max-age of served images
    user_agent: str = "BooksTrack/3.0 (book-cover-proxy)"


class Secrets(msgspec.Struct, kw_only=True):
    """Secrets, read only from the environment. Repr hides values so they never reach a log."""

    google_books_api_key: str | None = None
    isbndb_api_key: str | None = None
    gemini_api_key: str | None = None
    admin_token: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={'set' if getattr(self, f) else 'unset'}" for f in self.__struct_fields__)
        return f"Secrets({shown})"


# Environment variable names per secret: ours first, then the original service's.
SECRET_ENV: dict[str, tuple[str, ...]] = {
    "google_books_api_key": ("BOOKSTRACK_GOOGLE_BOOKS_API_KEY", "GOOGLE_BOOKS_API_KEY"),
    "isbndb_api_key": ("BOOKSTRACK_ISBNDB_API_KEY", "ISBNDB_API_KEY"),
    "gemini_api_key": ("BOOKSTRACK_GEMINI_API_KEY", "GEMINI_API_KEY"),
    "admin_token": ("BOOKSTRACK_ADMIN_TOKEN",),
}

# A key that names a secret: its last word is one of these (``admin_token``, ``api-key``, ``client_secret``),
# while keys that merely mention one (``token_ttl``, ``max_tokens``) are ordinary settings.
_SECRET_KEY = re.compile(r"(?:^|_)(?:api_?key|secret(?:_key)?|password|passwd|token)$")


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    actors: ActorsConfig = msgspec.field(default_factory=ActorsConfig)
    rate_limit: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    offload: OffloadConfig = msgspec.field(default_factory=OffloadConfig)
    jobs: JobsConfig = msgspec.field(default_factory=JobsConfig)
    scans: ScansConfig = msgspec.field(default_factory=ScansConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    providers: ProvidersConfig = msgspec.field(default_factory=ProvidersConfig)
    images: ImagesConfig = msgspec.field(default_factory=ImagesConfig)
    queues: QueuesConfig = msgspec.field(default_factory=QueuesConfig)
    scheduler: SchedulerConfig = msgspec.field(default_factory=SchedulerConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    harvest: HarvestConfig = msgspec.field(default_factory=HarvestConfig)
    secrets: Secrets = msgspec.field(default_factory=Secrets)


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read ``path`` (if given), apply environment overrides, then ``overrides`` (a nested dict, for
    tests and the CLI's flags), and validate. Raises ``ConfigError`` naming the offending key."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist. Hint: pass --config with a path") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    if "secrets" in data:
        raise ConfigError(_secret_hint("secrets"))
    _reject_secrets(data, "")
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
            if any(not k for k in keys):
                raise ConfigError(f"environment variable {name} has an empty key segment")
            if keys[0] == "secrets":
                raise ConfigError(f"environment variable {name} is not read; secrets come only from {_secret_names()}")
            _set_path(data, keys, _parse_env_value(value))
    if overrides:
        if "secrets" in overrides:
            raise ConfigError(_secret_hint("secrets"))
        _merge(data, overrides)
    data["secrets"] = _read_secrets(env)
    try:
        config = msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    for entry in config.server.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"invalid configuration: server.trusted_proxies: {entry!r} is not an IP address or CIDR network"
            ) from None
    return config


def _read_secrets(env: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for field, names in SECRET_ENV.items():
        for name in names:
            if env.get(name):
                found[field] = env[name]
                break
    return found


def _reject_secrets(node: Any, prefix: str) -> None:
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        # A switch is never a secret (``[jobs] results_require_token = true``); any other value may be.
        if isinstance(key, str) and not isinstance(value, bool) and _SECRET_KEY.search(key.lower().replace("-", "_")):
            raise ConfigError(_secret_hint(dotted))
        _reject_secrets(value, dotted + ".")


def _secret_names() -> str:
    return ", ".join(names[0] for names in SECRET_ENV.values())


def _secret_hint(key: str) -> str:
    return f"config key {key!r} looks like a secret; secrets come only from the environment ({_secret_names()})"


def _parse_env_value(value: str) -> Any:
    """A TOML number, boolean, string or array if the whole value is one, else the raw string (so
    ``2024-01-01`` or a value with a newline stays the text the operator wrote)."""
    if "\n" in value or "\r" in value:
        return value
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value
    return parsed if isinstance(parsed, (bool, int, float, str, list)) else value


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _merge(data: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(data.get(key), dict):
            _merge(data[key], value)
        else:
            data[key] = dict(value) if isinstance(value, Mapping) else value
