"""Benchmarks of BooksTrack's foundation: ``/health`` against a bare Quart-trio app, the front-door
middleware in-process, and one rate-limit decision against the actor runtime's own baselines.

Run everything with ``python -m bench.report`` (``make bench``); each module also runs alone. Every
figure is compared with a baseline measured in the same run, because absolute numbers on a shared
2-core machine mean little. All traffic goes to 127.0.0.1; nothing here touches the internet.
"""
