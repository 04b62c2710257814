"""The actor runtime of BooksTrack: actors with mailboxes, durable storage and alarms, on trio.

Public surface: everything in ``__all__``. This package never imports ``bookstrack``.
"""

from actors.alarms import Alarm as Alarm
from actors.clock import Clock as Clock
from actors.clock import iso_utc as iso_utc
from actors.runtime import Actor as Actor
from actors.runtime import ActorSystem as ActorSystem
from actors.runtime import ActorSystemClosedError as ActorSystemClosedError
from actors.runtime import Ref as Ref
from actors.runtime import UnknownMessageError as UnknownMessageError
from actors.runtime import handler as handler
from actors.sqlite import ExecutorClosedError as ExecutorClosedError
from actors.sqlite import ExecutorDiedError as ExecutorDiedError
from actors.sqlite import SqliteExecutor as SqliteExecutor
from actors.storage import ActorStorage as ActorStorage
from actors.storage import MemoryStorage as MemoryStorage
from actors.storage import SqliteStorage as SqliteStorage
from actors.storage import StorageBackend as StorageBackend

__all__ = [
    "Actor",
    "ActorStorage",
    "ActorSystem",
    "ActorSystemClosedError",
    "Alarm",
    "Clock",
    "ExecutorClosedError",
    "ExecutorDiedError",
    "MemoryStorage",
    "Ref",
    "SqliteExecutor",
    "SqliteStorage",
    "StorageBackend",
    "UnknownMessageError",
    "handler",
    "iso_utc",
]
