"""Integration tests: the real app, served by Hypercorn, driven over real sockets by real clients.

Rules every test here follows:

- Listen on 127.0.0.1 only, on port 0 (the kernel picks a free port; ``serve`` reports the bound URL).
  Other loopback addresses (127.0.0.2, ...) may be used as *client* addresses to get distinct peers.
- Nothing touches the internet: upstreams are ``httpx.MockTransport`` handlers or the fake upstream
  server on 127.0.0.1.
- Every test runs under a deadline: ``conftest.py`` puts each one under ``trio.fail_after`` (and, on a
  ``MockClock``, where virtual time stands still, under a wall-clock watchdog as well).
- No real sleeps: no ``time.sleep``, no ``trio.sleep`` with a positive delay on the real clock. Wait for
  events, use ``trio.testing.wait_all_tasks_blocked()``, or run on ``trio.testing.MockClock`` (never with
  autojump: the SQLite thread and the sockets look idle to it, and it leaps ahead) and ``clock.jump(...)``.
- Routes a test needs that the shipped app does not serve are registered on the app the test builds
  (``extra_routes``); the shipped app serves only real routes.
"""
