"""``bookstrack.web.url_map.StaticAnswerMap``: answers exactly as werkzeug's map does, without the
reference cycle werkzeug's matcher builds per call, for paths of rules without arguments."""

from __future__ import annotations

import gc

import pytest
from quart.routing import QuartMap, QuartRule
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect, WebsocketMismatch

from bookstrack.web.url_map import StaticAnswerMap


def rules() -> list[QuartRule]:
    return [
        QuartRule("/health", methods=["GET"], endpoint="health"),
        QuartRule("/v1/enrichment/batch", methods=["POST"], endpoint="batch"),
        QuartRule("/v1/jobs/<job_id>/results", methods=["GET"], endpoint="results"),
        QuartRule("/ws/progress", methods=["GET"], endpoint="progress_ws", websocket=True),
        QuartRule("/ws/progress", methods=["GET"], endpoint="progress_http"),
        QuartRule("/covers/", methods=["GET"], endpoint="covers"),
        QuartRule("/loose", methods=["GET"], endpoint="loose", strict_slashes=False),
        QuartRule("/any", endpoint="any"),  # no methods: every method name matches
    ]


CASES = [
    ("/health", "GET", False),
    ("/health", "HEAD", False),
    ("/health", "POST", False),
    ("/v1/enrichment/batch", "POST", False),
    ("/v1/enrichment/batch", "GET", False),
    ("/v1/jobs/abc/results", "GET", False),
    ("/ws/progress", "GET", True),
    ("/ws/progress", "GET", False),
    ("/covers", "GET", False),
    ("/loose/", "GET", False),
    ("/missing", "GET", False),
    ("//health", "GET", False),
    ("/any", "BREW", False),
]


def answer(adapter, path: str, method: str, websocket: bool) -> tuple[str, object]:
    try:
        rule, values = adapter.match(path, method, return_rule=True, websocket=websocket)
    except (NotFound, MethodNotAllowed, WebsocketMismatch) as error:
        return type(error).__name__, getattr(error, "valid_methods", None) and sorted(error.valid_methods)
    except RequestRedirect as error:
        return "redirect", error.new_url
    return rule.endpoint, values


@pytest.fixture
def maps() -> tuple[QuartMap, StaticAnswerMap]:
    return QuartMap(rules()), StaticAnswerMap(rules())


def test_every_answer_matches_werkzeugs_the_first_time_and_when_remembered(maps) -> None:
    plain, ours = (m.bind("localhost", "/") for m in maps)
    for _ in range(2):  # the second round is answered from what the first remembered
        for path, method, websocket in CASES:
            assert answer(ours, path, method, websocket) == answer(plain, path, method, websocket), path


def test_only_rules_without_arguments_and_with_methods_are_remembered(maps) -> None:
    _, ours = maps
    adapter = ours.bind("localhost", "/")
    adapter.match("/health", "GET")
    adapter.match("/v1/jobs/abc/results", "GET")
    adapter.match("/any", "BREW")
    with pytest.raises(NotFound):
        adapter.match("/missing", "GET")
    assert {key[1] for key in ours._matcher.answers} == {"/health"}


def test_each_caller_gets_its_own_values(maps) -> None:
    _, ours = maps
    adapter = ours.bind("localhost", "/")
    _, first = adapter.match("/health", "GET")
    first["changed"] = True  # Quart hands these to the view as view_args
    assert adapter.match("/health", "GET")[1] == {}


def test_adding_a_rule_forgets_what_was_remembered(maps) -> None:
    _, ours = maps
    adapter = ours.bind("localhost", "/")
    with pytest.raises(MethodNotAllowed):
        adapter.match("/health", "POST")
    adapter.match("/health", "GET")
    ours.add(QuartRule("/health", methods=["POST"], endpoint="health_post"))
    assert ours.bind("localhost", "/").match("/health", "POST") == ("health_post", {})
    assert ours.bind("localhost", "/").match("/health", "GET") == ("health", {})


def test_hosts_a_rule_does_not_serve_add_nothing() -> None:
    ours = StaticAnswerMap(rules())
    for n in range(10):
        with pytest.raises(NotFound):
            ours.bind("example.com", "/", subdomain=f"h{n}").match("/health", "GET")
    assert ours._matcher.answers == {}


@pytest.mark.parametrize(("map_class", "cyclic"), [(QuartMap, True), (StaticAnswerMap, False)])
def test_remembered_answers_leave_no_cyclic_garbage(map_class, cyclic: bool) -> None:
    adapter = map_class(rules()).bind("localhost", "/")
    adapter.match("/v1/enrichment/batch", "POST")  # first answer: through werkzeug's matcher
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(100):
            adapter.match("/v1/enrichment/batch", "POST")
        gc.collect()
        found = len(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert (found > 0) is cyclic  # werkzeug's own map does leave cycles: the check can see them
