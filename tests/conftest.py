"""Suite-wide test settings.

Hypothesis: no per-example deadline (a shared 2-core machine makes timings noisy), and under CI
(``CI=true``) a derandomized run, so a property failure is reproducible from the log rather than a
one-off draw; locally each run explores new examples.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "local")
