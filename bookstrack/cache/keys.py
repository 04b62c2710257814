"""Cache keys: ``{kind}:{name}={value}&…`` with the parameters sorted by name (reference §7.2's
``CacheKeyFactory.generic``), fixed so that two different queries can never share a key.

Owns only the key syntax; what goes into a key (which normalisation of a title or an ISBN) is the
caller's. The original joined raw values, so a value containing ``&`` or ``=`` could collide with another
query; here ``%``, ``&`` and ``=`` inside a value are percent-encoded (any other character, of any
script, is kept as is). Parameters whose value is None are left out.
"""

from __future__ import annotations

__all__ = ["cache_key"]

_ESCAPES = str.maketrans({"%": "%25", "&": "%26", "=": "%3D"})


def cache_key(kind: str, **params: str | int | None) -> str:
    """``cache_key("v1:advanced", title="hobbit", author="tolkien")`` → ``v1:advanced:author=tolkien&title=hobbit``."""
    if not kind:
        raise ValueError("a cache key needs a kind")
    parts = [f"{name}={str(value).translate(_ESCAPES)}" for name, value in sorted(params.items()) if value is not None]
    return f"{kind}:{'&'.join(parts)}"
