"""The actor runtime: Actor base, references, mailboxes, activation, passivation and supervision.

Owns the lifecycle of live actors. An actor is addressed by (kind, id); the first message activates
it (its state is loaded from storage by ``on_start``), each live actor has one bounded mailbox and one
task, and a turn (one message) runs to completion before the next starts, so a handler may await and
still read-modify-write its state freely. Writes of a turn are committed before the turn's answer is
released. Messages of an actor's ``batched`` types that are queued together share one commit: their
handlers run one after the other, a failing one's writes are rewound alone, then the writes of the others
are committed at once and every asker gets its own answer. Hence an actor must not ``ask`` itself from its
own turn: that raises at once rather than wait forever for a turn that starts only after this one.

Idle actors are passivated; a failing handler fails only its message; a crash of the loop itself restarts
the actor from storage (with growing backoff; after ``max_restarts`` failed starts in a row the waiting
askers get an error and the next message tries afresh). A failing alarm handler is
retried with backoff and dropped after ``max_alarm_attempts``, as Durable Objects do.

This package knows nothing of books, HTTP or the application (``bookstrack`` builds on it, never the
reverse).
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar

import trio

from actors.alarms import Alarm, AlarmSchedule
from actors.clock import Clock
from actors.storage import ActorStorage, Commit, StorageBackend

__all__ = ["Actor", "ActorSystem", "Ref", "handler", "UnknownMessageError", "ActorSystemClosedError"]

log = logging.getLogger("actors")

A = TypeVar("A", bound="Actor")
M = TypeVar("M")
R = TypeVar("R")

Handler = Callable[[Any, Any], Awaitable[Any]]

MAX_BATCH = 64  # messages of a batched type that share one commit at most


class UnknownMessageError(TypeError):
    """An actor received a message type it has no handler for."""


class ActorSystemClosedError(RuntimeError):
    """A message was sent to a system that is not running."""


def handler(fn: Callable[[A, M], Awaitable[R]]) -> Callable[[A, M], Awaitable[R]]:
    """Mark an ``async def on_x(self, msg: SomeStruct)`` method as the handler of ``SomeStruct``."""
    fn._actor_handler = True  # type: ignore[attr-defined]
    return fn


class Actor:
    """Base class of every actor kind.

    Subclasses set ``kind`` (defaults to the class name), write handlers with ``@handler``, load their
    state in ``on_start`` and may override ``on_alarm`` and ``idle_timeout``. ``self.storage`` is the
    actor's transactional storage, ``self.clock`` the system's clock.
    """

    kind: ClassVar[str] = ""
    mailbox_size: ClassVar[int] = 64
    # Message types that may share one turn's commit with the messages of these types queued right behind
    # them (each handler still runs alone, in order; one that fails leaves the others' writes intact).
    batched: ClassVar[frozenset[type]] = frozenset()
    _handlers: ClassVar[dict[type, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("kind"):
            cls.kind = cls.__name__
        handlers: dict[type, Handler] = {}
        for klass in reversed(cls.__mro__):
            for name, fn in vars(klass).items():
                if getattr(fn, "_actor_handler", False):
                    hints = typing.get_type_hints(fn)
                    params = [p for p in fn.__code__.co_varnames[1 : fn.__code__.co_argcount]]
                    if len(params) != 1 or params[0] not in hints:
                        raise TypeError(f"{cls.__name__}.{name} must take exactly one annotated message")
                    handlers[hints[params[0]]] = fn
        cls._handlers = handlers

    def __init__(self, id: str, storage: ActorStorage, system: ActorSystem) -> None:
        self.id = id
        self.storage = storage
        self.system = system
        self.clock = system.clock
        self._after_commit: list[Callable[[], None]] = []

    async def on_start(self) -> None:
        """Load persisted state. Runs at activation and again after a crash of the loop."""

    async def on_alarm(self, alarm: Alarm) -> None:
        """Handle this actor's alarm. The alarm is cleared when this turn commits unless it set a new one."""

    def idle_timeout(self) -> float:
        """Seconds without messages after which this actor is passivated."""
        return self.system.idle_timeout

    def set_alarm(self, at: float | None) -> None:
        """Set this actor's one alarm to epoch second ``at`` (None deletes it); durable with the turn."""
        self.storage.set_alarm(at)

    def ref(self) -> Ref[Any]:
        return self.system.ref(type(self), self.id)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this turn's writes are committed (at once if it wrote nothing), before
        the asker gets its answer. If the turn fails or its commit fails, the callback never runs: what
        it announces is never ahead of what storage holds."""
        self._after_commit.append(callback)


class Ref(Generic[A]):
    """An address: (actor class, id) in one system. Cheap to create; holds no actor."""

    __slots__ = ("system", "cls", "id")

    def __init__(self, system: ActorSystem, cls: type[A], id: str) -> None:
        self.system = system
        self.cls = cls
        self.id = id

    async def tell(self, msg: Any) -> None:
        """Enqueue ``msg`` (waits while the mailbox is full); does not wait for it to be handled."""
        await self.system._send(self.cls, self.id, msg, None)

    async def ask(self, msg: Any) -> Any:
        """Send ``msg`` and return the handler's result (after the turn's writes are committed), or raise
        the handler's exception."""
        act = self.system._live.get((self.cls.kind, self.id))
        if act is not None and act.task is trio.lowlevel.current_task():
            # The answer would come from a turn that starts only after the current one ends: a silent hang.
            raise RuntimeError(
                f"{self!r} asked itself {type(msg).__name__} from inside its own turn; that answer can never "
                "come (call the method directly, or tell)"
            )
        reply = _Reply()
        await self.system._send(self.cls, self.id, msg, reply)
        return await reply.wait()

    def __repr__(self) -> str:
        return f"Ref({self.cls.kind}:{self.id})"


class _Reply:
    __slots__ = ("_event", "_value", "_error")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def ok(self, value: Any) -> None:
        self._value = value
        self._event.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._event.set()

    @property
    def answered(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


class _Activation:
    __slots__ = ("cls", "id", "send", "receive", "started", "next", "task")

    def __init__(self, cls: type[Actor], id: str) -> None:
        self.cls = cls
        self.id = id
        self.task: trio.lowlevel.Task | None = None  # the task running its turns (an ask from it would hang)
        self.started = False  # on_start succeeded since the last crash
        # A message taken from the mailbox while collecting a batch that was not part of it: handled
        # next, also by a restarted actor if the batch's commit failed.
        self.next: tuple[Any, _Reply | None] | None = None
        self.send, self.receive = trio.open_memory_channel[tuple[Any, _Reply | None]](cls.mailbox_size)


class ActorSystem:
    """Live actors of every registered kind, on one storage backend and one clock.

    Use as ``async with ActorSystem(storage=..., clock=...) as system:``; leaving the block stops every
    actor (committed state stays in storage).
    """

    def __init__(
        self,
        *,
        storage: StorageBackend,
        clock: Clock | None = None,
        idle_timeout: float = 60.0,
        restart_backoff: float = 0.5,
        max_restarts: int = 5,
        max_alarm_attempts: int = 6,
        alarm_horizon: float = 3600.0,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be > 0")
        self.storage = storage
        self.clock = clock or Clock()
        self.idle_timeout = idle_timeout
        self.restart_backoff = restart_backoff
        self.max_restarts = max_restarts
        self.max_alarm_attempts = max_alarm_attempts
        self._kinds: dict[str, type[Actor]] = {}
        self._live: dict[tuple[str, str], _Activation] = {}
        self._nursery: trio.Nursery | None = None
        self._alarms = AlarmSchedule(self.clock, self._deliver_alarm, load=self._load_alarms, horizon=alarm_horizon)
        self._alarm_attempts: dict[tuple[str, str], int] = {}
        self._unclaimed_alarms: dict[str, set[str]] = {}  # kind -> ids whose due alarm found no class
        self.activations = 0
        self.restarts = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def register(self, *classes: type[Actor]) -> None:
        """Make kinds known so that their stored alarms can activate them after a restart."""
        for cls in classes:
            existing = self._kinds.get(cls.kind)
            if existing is not None and existing is not cls:
                raise ValueError(f"actor kind {cls.kind!r} is registered twice")
            self._kinds[cls.kind] = cls
            for id in self._unclaimed_alarms.pop(cls.kind, ()):
                at = self._alarms.at(cls.kind, id)
                if at is not None:
                    self._alarms.schedule(cls.kind, id, at)  # due already: the schedule delivers it now

    async def __aenter__(self) -> ActorSystem:
        # Read before opening the nursery: a failure here must not leave a nursery open behind it.
        await self._alarms.refill()
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        self._nursery.start_soon(self._alarms.run)
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        nursery, self._nursery = self._nursery, None
        try:
            return await self._nursery_manager.__aexit__(*exc)
        finally:
            del nursery
            self._live.clear()

    @property
    def live(self) -> int:
        """How many actors are active right now."""
        return len(self._live)

    def is_live(self, cls: type[Actor], id: str) -> bool:
        return (cls.kind, id) in self._live

    def alarm_at(self, cls: type[Actor], id: str) -> float | None:
        """The actor's pending alarm (epoch seconds), as the schedule holds it: only alarms due within the
        horizon are held (later ones are in storage)."""
        return self._alarms.at(cls.kind, id)

    async def _load_alarms(self, until: float) -> list[tuple[str, str, float]]:
        return await self.storage.alarms(until=until)

    # -- addressing ------------------------------------------------------------------------------

    def ref(self, cls: type[A], id: str) -> Ref[A]:
        if cls.kind not in self._kinds:
            self.register(cls)
        return Ref(self, cls, id)

    async def _send(self, cls: type[Actor], id: str, msg: Any, reply: _Reply | None) -> None:
        key = (cls.kind, id)
        while True:
            act = self._live.get(key)
            if act is None:
                act = self._activate(cls, id)
            try:
                act.send.send_nowait((msg, reply))
                return
            except trio.WouldBlock:
                try:
                    await act.send.send((msg, reply))
                    return
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    continue  # passivated while we waited: a new activation takes it
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                continue

    def _activate(self, cls: type[Actor], id: str) -> _Activation:
        if self._nursery is None:
            raise ActorSystemClosedError("the actor system is not running (use 'async with ActorSystem(...)')")
        act = _Activation(cls, id)
        self._live[(cls.kind, id)] = act
        self.activations += 1
        self._nursery.start_soon(self._run, act, name=f"actor {cls.kind}:{id}")
        return act

    async def _deliver_alarm(self, kind: str, id: str, alarm: Alarm) -> None:
        cls = self._kinds.get(kind)
        if cls is None:
            log.error("alarm for unregistered actor kind %r (id %r) held until it is registered", kind, id)
            self._unclaimed_alarms.setdefault(kind, set()).add(id)
            return
        await self._send(cls, id, alarm, None)

    # -- the actor's task --------------------------------------------------------------------------

    async def _run(self, act: _Activation) -> None:
        key = (act.cls.kind, act.id)
        act.task = trio.lowlevel.current_task()
        crashes = 0
        try:
            while True:
                try:
                    await self._serve(act)
                    return
                except Exception:
                    crashes = 1 if act.started else crashes + 1
                    act.started = False
                    self.restarts += 1
                    if crashes >= self.max_restarts:
                        # It cannot even start: answer the waiting askers (below) instead of looping
                        # forever; the next message tries a fresh activation.
                        log.exception("actor %s:%s failed to start %d times in a row; giving up", *key, crashes)
                        return
                    log.exception("actor %s:%s crashed; restarting from storage", *key)
                    await trio.sleep(self.restart_backoff * crashes)
        finally:
            if self._live.get(key) is act:
                del self._live[key]
            # Anyone still waiting on an answer from this activation gets an error, not a hang. Drain
            # before closing: closing the receiving end discards whatever is still buffered.
            if act.next is not None and act.next[1] is not None:
                act.next[1].fail(ActorSystemClosedError(f"actor {key[0]}:{key[1]} stopped"))
            while True:
                try:
                    _, reply = act.receive.receive_nowait()
                except (trio.WouldBlock, trio.ClosedResourceError, trio.EndOfChannel):
                    break
                if reply is not None:
                    reply.fail(ActorSystemClosedError(f"actor {key[0]}:{key[1]} stopped"))
            act.receive.close()

    async def _serve(self, act: _Activation) -> None:
        storage = ActorStorage(self.storage, act.cls.kind, act.id)
        actor = act.cls(act.id, storage, self)
        await actor.on_start()
        act.started = True
        receive = act.receive
        while True:
            if act.next is not None:
                item, act.next = act.next, None
                await self._turn(actor, storage, *item)
                continue
            try:
                item = receive.receive_nowait()
            except trio.WouldBlock:
                item = None
                with trio.move_on_after(actor.idle_timeout()):
                    item = await receive.receive()
                if item is None:
                    if receive.statistics().current_buffer_used:
                        continue
                    # Passivate: leave the registry before any checkpoint, so the next sender activates
                    # a fresh actor instead of queueing into this closing mailbox.
                    del self._live[(act.cls.kind, act.id)]
                    receive.close()
                    return
            msg, reply = item
            if type(msg) not in actor.batched:
                await self._turn(actor, storage, msg, reply)
                continue
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    queued = receive.receive_nowait()
                except trio.WouldBlock:
                    break
                if type(queued[0]) in actor.batched:
                    batch.append(queued)
                else:
                    act.next = queued  # handled next, in its own turn: the order stays the mailbox's
                    break
            await self._batch_turn(actor, storage, batch)

    async def _batch_turn(self, actor: Actor, storage: ActorStorage, batch: list[tuple[Any, _Reply | None]]) -> None:
        """Several queued messages of ``batched`` types, one handler after the other, then one commit."""
        answers: list[tuple[_Reply | None, Any]] = []
        try:
            for msg, reply in batch:
                mark, callbacks = storage._mark(), len(actor._after_commit)
                try:
                    answers.append((reply, await actor._handlers[type(msg)](actor, msg)))
                except Exception as exc:
                    storage._rewind(mark)  # this message's writes only
                    del actor._after_commit[callbacks:]
                    if reply is not None:
                        reply.fail(exc)
                    else:
                        log.warning("actor %s:%s failed on %s: %r", actor.kind, actor.id, type(msg).__name__, exc)
            await self._commit_turn(actor, storage, answers)
        finally:
            for _, reply in batch:
                if reply is not None and not reply.answered:
                    reply.fail(ActorSystemClosedError(f"actor {actor.kind}:{actor.id} stopped before answering"))

    async def _turn(self, actor: Actor, storage: ActorStorage, msg: Any, reply: _Reply | None) -> None:
        try:
            await self._run_turn(actor, storage, msg, reply)
        finally:
            if reply is not None and not reply.answered:
                # Cut short (the system is closing): the asker must not wait forever. Whether the
                # turn's writes were committed is unknown.
                reply.fail(ActorSystemClosedError(f"actor {actor.kind}:{actor.id} stopped before answering"))

    async def _run_turn(self, actor: Actor, storage: ActorStorage, msg: Any, reply: _Reply | None) -> None:
        is_alarm = type(msg) is Alarm
        fn = actor._handlers.get(type(msg))
        try:
            if is_alarm:
                result = await self._handle_alarm(actor, storage, msg)
            elif fn is None:
                raise UnknownMessageError(f"{actor.kind} has no handler for {type(msg).__name__}")
            else:
                result = await fn(actor, msg)
        except Exception as exc:
            storage._discard()
            actor._after_commit.clear()
            if is_alarm:
                await self._retry_alarm(actor, msg)
            if reply is not None:
                reply.fail(exc)
            else:
                log.warning("actor %s:%s failed on %s: %r", actor.kind, actor.id, type(msg).__name__, exc)
            return
        await self._commit_turn(actor, storage, [(reply, result)])

    async def _commit_turn(self, actor: Actor, storage: ActorStorage, answers: list[tuple[_Reply | None, Any]]) -> None:
        """The output gate: commit the turn's writes, then run its ``after_commit`` callbacks, then answer."""
        commit = storage._take()
        if commit is not None:
            try:
                await self.storage.commit(commit)
            except Exception as exc:
                # Memory is now ahead of disk: answer the error and restart from storage.
                actor._after_commit.clear()
                for reply, _ in answers:
                    if reply is not None:
                        reply.fail(exc)
                raise
            if commit.alarm_set:
                self._alarms.schedule(actor.kind, actor.id, commit.alarm)
        if actor._after_commit:
            callbacks, actor._after_commit = actor._after_commit, []
            for callback in callbacks:
                callback()
        for reply, result in answers:
            if reply is not None:
                reply.ok(result)

    async def _handle_alarm(self, actor: Actor, storage: ActorStorage, alarm: Alarm) -> None:
        if self._alarms.at(actor.kind, actor.id) != alarm.at:
            return  # superseded before delivery
        storage.set_alarm(None)  # cleared with this turn, unless the handler sets a new one
        await actor.on_alarm(Alarm(alarm.at, attempt=self._alarm_attempts.get((actor.kind, actor.id), 0)))
        self._alarm_attempts.pop((actor.kind, actor.id), None)

    async def _retry_alarm(self, actor: Actor, alarm: Alarm) -> None:
        key = (actor.kind, actor.id)
        attempt = self._alarm_attempts.get(key, 0) + 1
        if attempt >= self.max_alarm_attempts:
            # As Durable Objects do: after the last attempt the alarm is dropped, durably.
            log.error("alarm of %s:%s failed %d times; dropping it", *key, attempt)
            self._alarm_attempts.pop(key, None)
            await self.storage.commit(Commit(actor.kind, actor.id, {}, alarm_set=True, alarm=None))
            self._alarms.schedule(actor.kind, actor.id, None)
            return
        self._alarm_attempts[key] = attempt
        delay = min(2.0**attempt, 300.0)
        log.warning("alarm of %s:%s failed (attempt %d); retrying in %ss", *key, attempt, delay)
        self._alarms.schedule(actor.kind, actor.id, self.clock.wall() + delay)
