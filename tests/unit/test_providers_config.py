"""Provider settings (``[providers.<name>]``): the defaults of API.md §5, partial sections keeping each
provider's own defaults, validation naming the key, config.toml listing every key; and the error family."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from bookstrack.config import ProviderConfig, load_config
from bookstrack.errors import ConfigError, ProviderError, ProviderTimeout, ProviderUnavailable, ServerError

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = ("google_books", "openlibrary", "isbndb", "wikidata", "gemini")


def test_defaults_follow_the_providers_published_limits():
    providers = load_config(env={}).providers
    assert (providers.openlibrary.rate_per_second, providers.openlibrary.per_day) == (3.0, 0)
    assert (providers.isbndb.rate_per_second, providers.isbndb.per_day) == (1.0, 1000)
    assert (providers.google_books.rate_per_second, providers.google_books.per_day) == (5.0, 1000)
    assert providers.gemini.timeout == 60.0
    for name in PROVIDERS:
        settings = getattr(providers, name)
        assert isinstance(settings, ProviderConfig)
        assert settings.max_attempts >= 1
        assert settings.budget_wait == 5.0
        assert settings.deadline > settings.timeout


def test_a_partial_section_keeps_that_providers_own_defaults():
    config = load_config(env={"BOOKSTRACK_PROVIDERS__ISBNDB__RATE_PER_SECOND": "3"})
    assert config.providers.isbndb.rate_per_second == 3.0
    assert config.providers.isbndb.base_url == "https://api2.isbndb.com"
    assert config.providers.isbndb.per_day == 1000
    config = load_config(env={}, overrides={"providers": {"openlibrary": {"timeout": 2.5}}})
    assert config.providers.openlibrary.rate_per_second == 3.0  # not the generic default of 1
    assert config.providers.openlibrary.timeout == 2.5


@pytest.mark.parametrize(
    ("key", "value"),
    [("rate_per_second", 0), ("rate_per_second", -1), ("per_day", -1), ("max_attempts", 0), ("budget_wait", -0.5),
     ("deadline", 0), ("timeout", 0), ("burst", 3)],
)
def test_invalid_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"providers": {"wikidata": {key: value}}})
    assert key in caught.value.message


def test_config_toml_lists_every_provider_key_with_its_default():
    data = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    defaults = load_config(env={}).providers
    keys = {field.name for field in msgspec.structs.fields(ProviderConfig)}
    for name in PROVIDERS:
        section = data["providers"][name]
        assert keys <= set(section), name  # every generic key, plus any the provider adds of its own
        assert section == msgspec.to_builtins(getattr(defaults, name)), name


def test_the_provider_error_family():
    error = ProviderError("boom", provider="isbndb", reason="http_5xx", details={"status": 502})
    assert (error.code, error.status) == ("PROVIDER_ERROR", 503)
    assert error.details == {"provider": "isbndb", "reason": "http_5xx", "status": 502}
    assert (error.provider, error.reason) == ("isbndb", "http_5xx")
    assert str(error) == "PROVIDER_ERROR: boom"
    timeout = ProviderTimeout("slow", provider="openlibrary", reason="timeout")
    assert (timeout.code, timeout.status) == ("PROVIDER_TIMEOUT", 504)
    assert isinstance(timeout, ProviderError)
    assert isinstance(error, ServerError)
    unconfigured = ProviderUnavailable("no key", provider="google_books", reason="unconfigured")
    assert (unconfigured.code, unconfigured.status) == ("PROVIDER_ERROR", 503)
    # a route whose every provider failed raises it with its own details
    route = ProviderError("All book data providers failed", details={"providers": {"isbndb": "timeout"}})
    assert route.details == {"providers": {"isbndb": "timeout"}}
    assert route.provider is None
