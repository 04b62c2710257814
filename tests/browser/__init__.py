"""Browser tests: the admin dashboard in headless Chromium, driven over WebDriver (Debian's chromedriver).

They run as their own step (``make browser-test``, which installs ``chromium`` and ``chromium-driver`` with
apt when missing), not in ``make test``: without ``BOOKSTRACK_BROWSER_TESTS=1`` they are skipped, and
they are skipped with the reason when the browser or the driver is absent. Each test starts its own
server on 127.0.0.1:0 and its own chromedriver on a free port, with a fresh profile, and has an absolute
deadline. Screenshots go to ``tests/browser/artifacts/`` (git-ignored); the test prints the path.
"""
