"""Configuration: config.toml + BOOKSTRACK_<SECTION>__<KEY> overrides, validation, secrets from env only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bookstrack.config import Config, RateLimitClass, load_config
from bookstrack.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_without_a_file_or_environment():
    config = load_config(env={})
    assert isinstance(config, Config)
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8787
    assert config.server.max_body_bytes == 1024 * 1024
    assert config.server.trusted_proxies == []
    assert "https://books.oooefam.net" in config.server.cors_allowed_origins
    assert config.rate_limit.classes == {"default": RateLimitClass(limit=10, window=60.0)}
    assert config.secrets.google_books_api_key is None


def test_idle_connections_outlive_the_idle_expiry_of_common_clients_and_proxies():
    # If both sides drop an idle connection at the same moment, a request sent on it is lost (decision 0032).
    timeout = load_config(env={}).server.keep_alive_timeout
    assert timeout > (httpx.Limits().keepalive_expiry or 0.0)  # httpx's own default pool (5 s)
    assert timeout > 60.0  # a load balancer's usual idle timeout


def test_the_repository_config_toml_loads_and_equals_the_defaults():
    assert load_config(REPO / "config.toml", env={}) == load_config(env={})


def test_load_config_does_not_read_the_process_environment_when_given_env(monkeypatch):
    monkeypatch.setenv("BOOKSTRACK_SERVER__PORT", "1234")
    monkeypatch.setenv("GEMINI_API_KEY", "from-process")
    config = load_config(env={})
    assert config.server.port == 8787
    assert config.secrets.gemini_api_key is None
    assert load_config().server.port == 1234  # env=None means os.environ


def test_a_file_overrides_defaults(tmp_path):
    path = write(tmp_path, '[server]\nport = 9000\nhost = "0.0.0.0"\n[rate_limit.classes.search]\nlimit = 100\n')
    config = load_config(path, env={})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.server.graceful_timeout == 10.0  # untouched keys keep their defaults
    assert config.rate_limit.classes["search"] == RateLimitClass(limit=100, window=60.0)


@pytest.mark.parametrize(
    ("name", "value", "section", "key", "expected"),
    [
        ("BOOKSTRACK_SERVER__PORT", "9000", "server", "port", 9000),
        ("BOOKSTRACK_SERVER__GRACEFUL_TIMEOUT", "2.5", "server", "graceful_timeout", 2.5),
        ("BOOKSTRACK_SERVER__GRACEFUL_TIMEOUT", "3", "server", "graceful_timeout", 3.0),
        ("BOOKSTRACK_RATE_LIMIT__ENABLED", "false", "rate_limit", "enabled", False),
        ("BOOKSTRACK_SERVER__HOST", "0.0.0.0", "server", "host", "0.0.0.0"),
        ("BOOKSTRACK_SERVER__TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]', "server", "trusted_proxies",
         ["10.0.0.0/8", "127.0.0.1"]),
        ("BOOKSTRACK_LOG__LEVEL", "DEBUG", "log", "level", "DEBUG"),
        ("BOOKSTRACK_LOG__FORMAT", '"json"', "log", "format", "json"),  # a quoted TOML string works too
        ("BOOKSTRACK_STORAGE__PATH", "/var/lib/bookstrack/db.sqlite3", "storage", "path",
         "/var/lib/bookstrack/db.sqlite3"),
        # TOML dates and multi-line values are not what an operator means: the text stays as written.
        ("BOOKSTRACK_PROVIDERS__USER_AGENT", "2024-01-01", "providers", "user_agent", "2024-01-01"),
        ("BOOKSTRACK_PROVIDERS__USER_AGENT", "a\nb = 1", "providers", "user_agent", "a\nb = 1"),
    ],
)
def test_environment_overrides_are_toml_literals_or_plain_strings(name, value, section, key, expected):
    config = load_config(env={name: value})
    assert getattr(getattr(config, section), key) == expected


def test_nested_environment_overrides_use_double_underscores(tmp_path):
    env = {
        "BOOKSTRACK_PROVIDERS__OPENLIBRARY__BASE_URL": "http://127.0.0.1:9100",
        "BOOKSTRACK_RATE_LIMIT__CLASSES__DEFAULT__LIMIT": "100",
        "BOOKSTRACK_RATE_LIMIT__CLASSES__UPLOADS__WINDOW": "30",
    }
    path = write(tmp_path, "[rate_limit.classes.default]\nlimit = 5\nwindow = 120.0\n")
    config = load_config(path, env=env)
    assert config.providers.openlibrary.base_url == "http://127.0.0.1:9100"
    assert config.providers.openlibrary.timeout == 10.0
    # the environment wins over the file, key by key
    assert config.rate_limit.classes["default"] == RateLimitClass(limit=100, window=120.0)
    assert config.rate_limit.classes["uploads"] == RateLimitClass(limit=10, window=30.0)


def test_overrides_win_over_environment_and_file(tmp_path):
    path = write(tmp_path, "[server]\nport = 1\n")
    config = load_config(path, env={"BOOKSTRACK_SERVER__PORT": "2"}, overrides={"server": {"port": 3}})
    assert config.server.port == 3


def test_unrelated_environment_variables_are_ignored():
    env = {"PATH": "/usr/bin", "BOOKSTRACK_HOME": "/x", "HOME": "/root", "BOOKSTRACKX__SERVER__PORT": "1"}
    assert load_config(env=env) == load_config(env={})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[server]\nprot = 8000\n", "prot"),
        ("[servr]\nport = 8000\n", "servr"),
        ("top_level = 1\n", "top_level"),
        ("[rate_limit.classes.default]\nlimt = 5\n", "limt"),
        ("[providers.gemini]\nbase_ur = 'x'\n", "base_ur"),
    ],
)
def test_unknown_keys_in_the_file_are_rejected_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert named in caught.value.message


def test_unknown_keys_in_the_environment_are_rejected_naming_the_key():
    with pytest.raises(ConfigError, match="colour"):
        load_config(env={"BOOKSTRACK_SERVER__COLOUR": "blue"})
    with pytest.raises(ConfigError, match="empty key segment"):
        load_config(env={"BOOKSTRACK_SERVER____PORT": "1"})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[server]\nport = "eighty"\n', "$.server.port"),
        ("[server]\nport = 70000\n", "$.server.port"),
        ("[server]\nmax_body_bytes = 0\n", "max_body_bytes"),
        ("[offload]\nthreads = 0\n", "$.offload.threads"),
        ("[actors]\nidle_timeout = 0\n", "idle_timeout"),
        ("[health]\nrefresh_interval = 0\n", "refresh_interval"),
        ("[rate_limit.classes.default]\nlimit = 0\n", "limit"),
        ("[rate_limit.classes.default]\nwindow = -1\n", "window"),
        ('[log]\nlevel = "LOUD"\n', "$.log.level"),
        ('[storage]\nsynchronous = "SOMETIMES"\n', "synchronous"),
        ('[server]\ntrusted_proxies = ["10.0.0.0/8", "my-proxy"]\n', "server.trusted_proxies"),
    ],
)
def test_values_out_of_range_are_rejected_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert named in caught.value.message


def test_a_missing_or_malformed_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\n"), env={})


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_come_from_the_environment():
    env = {
        "BOOKSTRACK_GOOGLE_BOOKS_API_KEY": "g",
        "BOOKSTRACK_ISBNDB_API_KEY": "i",
        "BOOKSTRACK_GEMINI_API_KEY": "m",
        "BOOKSTRACK_ADMIN_TOKEN": "a",
    }
    secrets = load_config(env=env).secrets
    assert (secrets.google_books_api_key, secrets.isbndb_api_key, secrets.gemini_api_key) == ("g", "i", "m")
    assert secrets.admin_token == "a"


def test_the_original_services_variable_names_are_accepted():
    env = {"GOOGLE_BOOKS_API_KEY": "g", "ISBNDB_API_KEY": "i", "GEMINI_API_KEY": "m"}
    secrets = load_config(env=env).secrets
    assert (secrets.google_books_api_key, secrets.isbndb_api_key, secrets.gemini_api_key) == ("g", "i", "m")


def test_our_variable_name_wins_over_the_original_and_empty_values_are_unset():
    env = {"BOOKSTRACK_GEMINI_API_KEY": "ours", "GEMINI_API_KEY": "theirs", "ISBNDB_API_KEY": ""}
    secrets = load_config(env=env).secrets
    assert secrets.gemini_api_key == "ours"
    assert secrets.isbndb_api_key is None


def test_secret_values_never_show_in_repr():
    config = load_config(env={"GEMINI_API_KEY": "AIza-very-secret"})
    assert "AIza-very-secret" not in repr(config.secrets)
    assert "AIza-very-secret" not in repr(config)
    assert "gemini_api_key=set" in repr(config.secrets)
    assert "isbndb_api_key=unset" in repr(config.secrets)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[secrets]\nadmin_token = "x"\n', "secrets"),
        ('[providers.google_books]\napi_key = "x"\n', "providers.google_books.api_key"),
        ('[providers.isbndb]\napiKey = "x"\n', "providers.isbndb.apiKey"),
        ('[server]\nadmin_token = "x"\n', "server.admin_token"),
        ('[server]\nharvest-secret = "x"\n', "server.harvest-secret"),
        ('[storage]\npassword = "x"\n', "storage.password"),
    ],
)
def test_secrets_in_the_file_are_refused(tmp_path, text, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    message = caught.value.message
    assert repr(named) in message
    assert "environment" in message
    assert "BOOKSTRACK_ADMIN_TOKEN" in message
    assert '"x"' not in message


@pytest.mark.parametrize("key", ["token_ttl", "max_tokens", "secretary", "password_file", "keyboard"])
def test_keys_that_only_mention_a_secret_word_are_ordinary_keys(tmp_path, key):
    # refused as unknown keys (no such setting yet), not as secrets
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"[server]\n{key} = 1\n"), env={})
    assert "unknown field" in caught.value.message
    assert "secret" not in caught.value.message.replace(key, "")


def test_secrets_cannot_be_set_through_the_section_syntax():
    with pytest.raises(ConfigError, match="BOOKSTRACK_ADMIN_TOKEN"):
        load_config(env={"BOOKSTRACK_SECRETS__ADMIN_TOKEN": "x"})
    with pytest.raises(ConfigError, match="environment"):
        load_config(env={}, overrides={"secrets": {"admin_token": "x"}})
