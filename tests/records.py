"""
The record notifications the multi-process suites check (tests/test_reliability.py,
tests/test_faults.py): each new best the players stored has exactly one, keyed by its
score's key and with the contract's text, and they have no other record notification.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from juego.store import schema as s

#: A record notification's key: this before its score's key.
RECORD_PREFIX = "record:"
#: A record notification's text, for a score.
RECORD_TEXT = "¡Nuevo récord personal: {} puntos!"


@dataclass
class RecordCount:
    #: New bests stored.
    records: int
    #: Record notifications stored.
    notifications: int
    #: Record notifications stored more than once for one best (0 when they pass).
    duplicated: int
    #: The new bests: rows of C{clave}, C{user_id}, C{puntaje}.
    bests: list[Any]


def checkRecordNotifications(
    case: Any, query: Callable[[Any], list[Any]], playerIDs: Sequence[int], label: str = ""
) -> RecordCount:
    """
    Check the record notifications of C{playerIDs} against their new bests, reading the
    database with C{query(statement)}; C{label} starts each failure's message.
    """
    records = {
        row.clave: row
        for row in query(
            select(s.scores.c.clave, s.scores.c.user_id, s.scores.c.puntaje).where(
                s.scores.c.nuevo_record.is_(True), s.scores.c.user_id.in_(playerIDs)
            )
        )
    }
    notifications = query(
        select(s.notifications.c.clave, s.notifications.c.user_id, s.notifications.c.message).where(
            s.notifications.c.message.like(RECORD_TEXT.split("{")[0] + "%"),
            s.notifications.c.user_id.in_(playerIDs),
        )
    )
    perKey = Counter(n.clave for n in notifications)
    count = RecordCount(
        records=len(records),
        notifications=len(notifications),
        duplicated=sum(n - 1 for n in perKey.values() if n > 1),
        bests=list(records.values()),
    )
    case.assertEqual(count.duplicated, 0, f"{label}: notified twice")
    case.assertEqual(
        set(perKey),
        {RECORD_PREFIX + clave for clave in records},
        f"{label}: record notifications differ",
    )
    for n in notifications:
        score = records[n.clave[len(RECORD_PREFIX) :]]
        case.assertEqual((n.user_id, n.message), (score.user_id, RECORD_TEXT.format(score.puntaje)))
    return count
