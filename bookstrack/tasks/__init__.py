"""Background work of the app (ARCHITECTURE.md ``tasks/``): the durable queue with retries and dead letters
(``queue.py``) and its consumers (``warming.py``: author cache warming). Everything here runs in nurseries
owned by the app's lifespan (``Services.run``); nothing here serves HTTP."""

from bookstrack.tasks.queue import DeadLetter as DeadLetter
from bookstrack.tasks.queue import DurableQueues as DurableQueues
from bookstrack.tasks.queue import Message as Message
from bookstrack.tasks.queue import QueueStats as QueueStats

__all__ = ["DeadLetter", "DurableQueues", "Message", "QueueStats"]
