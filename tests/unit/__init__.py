"""Unit tests: pure functions and the actor runtime, in memory or on a temporary SQLite file."""
