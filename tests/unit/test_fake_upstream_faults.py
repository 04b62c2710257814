"""The fake upstream's pieces that need no socket: text matching, query parsing, fault decisions and the
request log."""

from __future__ import annotations

import pytest

from bookstrack.devtools.faults import Faults, RecordedRequest, RequestLog
from bookstrack.devtools.text import Term, contains, fold, isbn_forms, parse_query

PROVIDERS = ("google_books", "openlibrary", "isbndb", "wikidata")


# -- text ---------------------------------------------------------------------------------------------


def test_fold_ignores_case_accents_and_punctuation_in_every_script():
    assert fold("Les Misérables") == fold("LES MISERABLES") == "les miserables"
    assert fold("J.R.R. Tolkien") == fold("J. R. R. Tolkien")
    assert fold("Ｎｏｒｗｅｇｉａｎ") == "norwegian"  # full-width forms
    assert fold("ノルウェイの森") == "ノルウェイの森"
    assert fold("Мастер и Маргарита") == "мастер и маргарита"
    assert fold("Ngũgĩ wa Thiong'o") == "ngugi wa thiong o"


def test_contains_matches_word_prefixes_and_any_substring_of_unspaced_scripts():
    assert contains(fold("The Hobbits of the Shire"), "hobbit")
    assert not contains(fold("toward the sea"), "war")
    assert contains(fold("ノルウェイの森 上"), fold("ノルウェイの森"))
    assert contains(fold("村上春樹"), fold("春樹"))
    assert contains("anything", "")


def test_parse_query_reads_fields_quotes_and_free_words():
    fields = {"intitle", "inauthor", "isbn"}
    terms = parse_query('intitle:"the hobbit" inauthor:tolkien isbn:978-0-547 foo:bar free+word', fields)
    assert terms == [
        Term("intitle", "the hobbit"),
        Term("inauthor", "tolkien"),
        Term("isbn", "978-0-547"),
        Term(None, "foo bar"),
        Term(None, "free"),
        Term(None, "word"),
    ]
    assert parse_query("ノルウェイの森", fields) == [Term(None, "ノルウェイの森")]


def test_isbn_forms_converts_only_valid_isbns():
    assert isbn_forms("0-345-33968-1") == {"0345339681", "9780345339683"}
    assert isbn_forms("9791234567896") == {"9791234567896"}  # 979: no ISBN-10
    assert isbn_forms("0345339682") == {"0345339682"}  # bad check digit: taken as is


# -- faults -------------------------------------------------------------------------------------------


def test_no_faults_by_default():
    faults = Faults(PROVIDERS)
    decision = faults.decide("isbndb")
    assert (decision.action, decision.latency) == ("answer", 0.0)


def test_a_provider_setting_overrides_the_global_one():
    faults = Faults(PROVIDERS)
    faults.set(latency_ms=50)
    faults.set("isbndb", latency_ms=200)
    assert faults.decide("isbndb").latency == pytest.approx(0.2)
    assert faults.decide("google_books").latency == pytest.approx(0.05)
    faults.set("isbndb", latency_ms=None)  # unset: follows the global setting again
    assert faults.decide("isbndb").latency == pytest.approx(0.05)


def test_fail_next_counts_down_provider_first_then_global():
    faults = Faults(PROVIDERS)
    faults.fail_next(1, status=429, retry_after=2, provider="isbndb")
    faults.fail_next(1, status=500)
    first = faults.decide("isbndb")
    assert (first.action, first.status, first.retry_after) == ("error", 429, "2")
    second = faults.decide("isbndb")
    assert (second.action, second.status, second.retry_after) == ("error", 500, None)
    assert faults.decide("isbndb").action == "answer"
    assert faults.decide("google_books").action == "answer"


def test_an_injected_429_always_has_a_retry_after():
    faults = Faults(PROVIDERS)
    faults.fail_next(1, status=429)
    assert faults.decide("wikidata").retry_after == "1"
    faults.fail_next(1, status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert faults.decide("wikidata").retry_after == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_hangs_come_before_errors():
    faults = Faults(PROVIDERS)
    faults.fail_next(1)
    faults.hang_next(1, provider="openlibrary")
    assert faults.decide("openlibrary").action == "hang"
    assert faults.decide("openlibrary").action == "error"
    faults.set("google_books", timeout=True)
    assert [faults.decide("google_books").action for _ in range(3)] == ["hang"] * 3
    faults.set("google_books", timeout=False)
    assert faults.decide("google_books").action == "answer"


def test_the_error_rate_is_seeded():
    def pattern(seed: int) -> list[str]:
        faults = Faults(PROVIDERS, seed=seed)
        faults.set(error_rate=0.3)
        return [faults.decide("google_books").action for _ in range(200)]

    first = pattern(7)
    assert first == pattern(7)
    assert first != pattern(8)
    assert 30 <= first.count("error") <= 90


def test_jitter_is_seeded_and_bounded():
    faults = Faults(PROVIDERS, seed=1)
    faults.set(latency_ms=10, jitter_ms=5)
    latencies = [faults.decide("isbndb").latency for _ in range(50)]
    assert all(0.010 <= x <= 0.015 for x in latencies)
    assert len(set(latencies)) > 1


def test_reset_clears_every_scope():
    faults = Faults(PROVIDERS)
    faults.set(error_rate=1.0)
    faults.set("isbndb", latency_ms=10, fail_next=3)
    faults.reset()
    assert faults.decide("isbndb") == faults.decide("google_books")
    assert faults.decide("isbndb").action == "answer"
    assert faults.snapshot()["providers"]["isbndb"]["fail_next"] == 0


@pytest.mark.parametrize(
    "values",
    [
        {"error_rate": 1.5},
        {"latency_ms": -1},
        {"status": 200},
        {"timeout": "yes"},
        {"fail_next": -1},
        {"fail_next": True},
        {"colour": "red"},
    ],
)
def test_bad_settings_are_refused(values):
    faults = Faults(PROVIDERS)
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for the control API's 400
        faults.update(None, values)


def test_an_unknown_provider_is_refused():
    with pytest.raises(ValueError, match="unknown provider"):
        Faults(PROVIDERS).set("amazon", latency_ms=1)


# -- the request log ----------------------------------------------------------------------------------


def entry(at: float, provider: str = "isbndb", route: str = "GET /book/{isbn}", path: str = "/book/1"):
    return RecordedRequest(at, provider, route, "GET", path, {}, {})


def test_the_log_counts_by_provider_route_and_path():
    log = RequestLog()
    log.record(entry(0, path="/book/1"))
    log.record(entry(0, path="/book/2"))
    log.record(entry(0, "google_books", "GET /books/v1/volumes", "/books/v1/volumes"))
    assert log.count() == 3
    assert log.count("isbndb") == 2
    assert log.count(route="GET /book/{isbn}") == 2
    assert log.count("isbndb", path="/book/2") == 1
    assert log.snapshot()["routes"] == {"isbndb": {"GET /book/{isbn}": 2}, "google_books": {"GET /books/v1/volumes": 1}}
    assert len(log.log("google_books")) == 1
    log.reset()
    assert log.count() == 0
    assert log.snapshot()["providers"] == {}


def test_max_in_window_is_the_busiest_window():
    log = RequestLog()
    for at in (0.0, 0.5, 0.99, 1.0, 1.2, 5.0):
        log.record(entry(at))
    assert log.max_in_window(1.0) == 4  # 0.5, 0.99, 1.0, 1.2 ([0.5, 1.5) holds four)
    assert log.max_in_window(0.1) == 2
    assert log.max_in_window(10) == 6
    assert log.max_in_window(1.0, "google_books") == 0


def test_the_log_keeps_only_the_recent_requests_but_counts_all():
    log = RequestLog(keep=3)
    for at in range(5):
        log.record(entry(float(at)))
    assert log.count() == 5
    assert [r.at for r in log.log()] == [2.0, 3.0, 4.0]
