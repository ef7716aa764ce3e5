"""
Players' notifications (owned by juego-dist).

Newest first is id order (ids only grow), served by the C{(user_id, id)} index; each
player keeps at most L{MAX_PER_USER}: the insert that goes past it deletes the oldest in
the same transaction. Every method checks that the player exists in the same unit of work
and answers L{None} when they do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy import delete as sqlDelete
from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from juego.model import NOTIFICATION_TYPES, Notification, utcnow
from juego.store import schema as s
from juego.store.pool import DBThreadPool

#: Notifications kept per player: the newest ones.
MAX_PER_USER = 100

_n = s.notifications

_COLUMNS = (_n.c.id, _n.c.user_id, _n.c.message, _n.c.type, _n.c.timestamp, _n.c.leida)


def _notification(row: Row) -> Notification:
    return Notification(
        id=row.id,
        user_id=row.user_id,
        message=row.message,
        type=row.type,
        timestamp=row.timestamp,
        leida=bool(row.leida),
    )


def _userExists(conn: Connection, userID: int, lock: bool = False) -> bool:
    """
    Whether the player exists. With C{lock} (PostgreSQL), their row is locked against
    other notification writers for the rest of the transaction, so that two nodes adding
    for one player cannot both keep a hundred.
    """
    query = select(s.users.c.id).where(s.users.c.id == userID)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE
    return conn.execute(query).first() is not None


def _byKey(conn: Connection, key: str) -> Notification | None:
    row = conn.execute(select(*_COLUMNS).where(_n.c.clave == key)).first()
    return None if row is None else _notification(row)


def _add(
    conn: Connection,
    userID: int,
    message: str,
    kind: str,
    when: datetime,
    keep: int,
    key: str | None = None,
) -> tuple[Notification, bool] | None:
    """
    The stored notification and whether it is new (C{False}: one with the same key was
    stored before, and is returned as it is).
    """
    if not _userExists(conn, userID, lock=True):
        return None
    if key is not None:
        earlier = _byKey(conn, key)
        if earlier is not None:
            return earlier, False
    notificationID = conn.execute(
        insert(_n)
        .values(user_id=userID, message=message, type=kind, timestamp=when, leida=False, clave=key)
        .returning(_n.c.id)
    ).scalar_one()
    # The id of the oldest notification to keep; everything older goes. NULL (nothing
    # deleted) while the player has no more than `keep`.
    oldestKept = (
        select(_n.c.id)
        .where(_n.c.user_id == userID)
        .order_by(_n.c.id.desc())
        .limit(1)
        .offset(keep - 1)
        .scalar_subquery()
    )
    conn.execute(sqlDelete(_n).where(_n.c.user_id == userID, _n.c.id < oldestKept))
    return Notification(notificationID, userID, message, kind, when, False), True


def _list(conn: Connection, userID: int, limit: int, unreadOnly: bool) -> list[Notification] | None:
    if not _userExists(conn, userID):
        return None
    query = select(*_COLUMNS).where(_n.c.user_id == userID)
    if unreadOnly:
        query = query.where(_n.c.leida.is_(False))
    rows = conn.execute(query.order_by(_n.c.id.desc()).limit(limit))
    return [_notification(row) for row in rows]


def _markRead(conn: Connection, userID: int, ids: Sequence[int] | None) -> int | None:
    if not _userExists(conn, userID):
        return None
    query = update(_n).where(_n.c.user_id == userID, _n.c.leida.is_(False))
    if ids is not None:
        if not ids:
            return 0
        query = query.where(_n.c.id.in_(sorted(set(ids))))
    return conn.execute(query.values(leida=True)).rowcount


def _unread(conn: Connection, userID: int) -> int | None:
    if not _userExists(conn, userID):
        return None
    return conn.execute(
        select(func.count()).select_from(_n).where(_n.c.user_id == userID, _n.c.leida.is_(False))
    ).scalar_one()


class NotificationsStore:
    def __init__(self, pool: DBThreadPool, maxPerUser: int = MAX_PER_USER) -> None:
        self._pool = pool
        self.maxPerUser = maxPerUser

    def add(
        self, userID: int, message: str, kind: str = "info", now: datetime | None = None
    ) -> Deferred[Notification | None]:
        """
        Store a notification for a player (unread, stamped now) and trim their oldest
        beyond the cap, in one transaction. L{None} if there is no such player.
        """
        return self.addOnce(userID, message, kind, None, now).addCallback(
            lambda added: None if added is None else added[0]
        )

    def addOnce(
        self,
        userID: int,
        message: str,
        kind: str = "info",
        key: str | None = None,
        now: datetime | None = None,
    ) -> Deferred[tuple[Notification, bool] | None]:
        """
        Like L{add}, idempotent by C{key}: a second add with the same key stores
        nothing and answers C{(the first notification, False)}; a new one answers
        C{(notification, True)}.
        """
        if kind not in NOTIFICATION_TYPES:
            raise ValueError(f"unknown notification type {kind!r}")
        when = now or utcnow()

        def raced(failure: Failure) -> Deferred[tuple[Notification, bool] | None]:
            # Another node stored the same key between our look and our insert.
            failure.trap(IntegrityError)
            return self._pool.write(_add, userID, message, kind, when, self.maxPerUser, key)

        d = self._pool.write(_add, userID, message, kind, when, self.maxPerUser, key)
        if key is not None:
            d.addErrback(raced)
        return d

    def list(
        self, userID: int, limit: int | None = None, unreadOnly: bool = False
    ) -> Deferred[list[Notification] | None]:
        """
        A player's notifications, newest first (at most C{limit}, all kept by default);
        L{None} if there is no such player.
        """
        count = self.maxPerUser if limit is None else max(0, limit)
        return self._pool.read(_list, userID, count, unreadOnly)

    def markRead(self, userID: int, ids: Sequence[int] | None = None) -> Deferred[int | None]:
        """
        Mark a player's notifications read: those with the given ids (others' ids are
        ignored), or all of them. Answers how many changed; L{None} if there is no such
        player.
        """
        return self._pool.write(_markRead, userID, None if ids is None else list(ids))

    def unreadCount(self, userID: int) -> Deferred[int | None]:
        return self._pool.read(_unread, userID)
