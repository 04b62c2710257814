"""The app's URL map: Quart's, with the answers for paths without placeholders remembered.

Werkzeug's matcher builds a recursive closure on every call, a reference cycle that only the cyclic
collector frees. The server raises the collector's thresholds (decision 0031), so on a busy server those
cycles pile up between collections and leave pymalloc's arenas fragmented: the process grows with traffic
it has long finished (decision 0033). Most requests go to a path with no placeholder (``/health``,
``/v1/enrichment/batch``, ``/v1/search/isbn``, ``/ws/progress``), whose answer depends on nothing but the
path, method, host part and kind of request; this map remembers the first answer werkzeug gave for each and
answers from it, so the hot path builds no cycle. Every other path, every error (404, 405, redirects) and
every answer for a rule with arguments still goes through werkzeug, unchanged.

Owns only the lookup; it must not change what a path matches.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from quart.routing import QuartMap
from werkzeug.routing import Rule, RuleFactory
from werkzeug.routing.matcher import StateMachineMatcher

__all__ = ["StaticAnswerMap"]

_Key = tuple[str, str, str, bool]


class _RememberingMatcher(StateMachineMatcher):
    def __init__(self, merge_slashes: bool) -> None:
        super().__init__(merge_slashes)
        self.answers: dict[_Key, tuple[Rule, dict[str, Any]]] = {}

    def add(self, rule: Rule) -> None:
        self.answers.clear()
        super().add(rule)

    def update(self) -> None:
        self.answers.clear()
        super().update()

    def match(self, domain: str, path: str, method: str, websocket: bool) -> tuple[Rule, MutableMapping[str, Any]]:
        key = (domain, path, method, websocket)
        known = self.answers.get(key)
        if known is not None:
            rule, values = known
            return rule, dict(values)  # the caller may keep and change it (view_args)
        rule, values = super().match(domain, path, method, websocket)
        if not rule.arguments and rule.methods is not None:
            # Bounded by the rules: a rule without arguments has one host or subdomain part, matches one
            # path (two when it lets the trailing slash go) and its listed methods, so no request can add
            # keys at will. (A rule without methods would take any method name a client sends.)
            self.answers[key] = (rule, dict(values))
        return rule, values


class StaticAnswerMap(QuartMap):
    """``QuartMap`` whose matcher remembers what it answered for paths of rules without arguments."""

    def __init__(self, rules: Iterable[RuleFactory] | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(None, *args, **kwargs)
        # werkzeug builds its matcher in __init__ and offers no hook to choose its class: replace it before
        # any rule is added.
        self._matcher = _RememberingMatcher(self._matcher.merge_slashes)
        for factory in rules or ():
            self.add(factory)
