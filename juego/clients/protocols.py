"""
What the web process needs of juego-tcp and juego-dist, as L{typing.Protocol}s: the
Deferred clients (L{juego.clients.deferred}) satisfy them, and so must every fake that
stands in for them in the tests (C{make typecheck} checks C{tests/websupport.py}'s), so a
fake cannot drift from the real client unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from twisted.internet.defer import Deferred

Reply = Deferred[dict[str, Any]]


class Stoppable(Protocol):
    def stop(self) -> object: ...  # a Deferred that fires once stopped, or nothing


class ScoreService(Protocol):
    """
    juego-tcp: scores.
    """

    def save_score(
        self,
        user_id: int,
        puntaje: int,
        idempotency_key: str | None = None,
        partida: dict[str, Any] | None = None,
        primera: bool = False,
    ) -> Reply: ...

    def ping(self) -> Reply: ...


class DistService(Protocol):
    """
    juego-dist: stats, notifications and the live feed of new ones (and of session drops,
    L{juego.web.sessioncache}).
    """

    def ping(self) -> Reply: ...

    def get_user_stats(self, user_id: int, **extra: Any) -> Reply: ...

    def get_global_stats(self, **extra: Any) -> Reply: ...

    def add_notification(
        self, user_id: int, message: str, notif_type: str = "info", **extra: Any
    ) -> Reply: ...

    def get_notifications(
        self, user_id: int, limit: int | None = None, unread_only: bool = False, **extra: Any
    ) -> Reply: ...

    def mark_notifications_read(
        self, user_id: int, ids: Iterable[int] | None = None, **extra: Any
    ) -> Reply: ...

    def drop_sessions(
        self, user_id: int | None = None, sesiones: Iterable[str] = (), **extra: Any
    ) -> Reply: ...

    def subscribe(
        self,
        onNotification: Callable[[dict[str, Any]], None],
        user_id: int | None = None,
        onSubscribed: Callable[[], None] | None = None,
        onSessions: Callable[[dict[str, Any]], None] | None = None,
    ) -> Stoppable: ...
