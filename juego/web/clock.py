"""
The web process's notion of now, from an injected clock (a reactor, or a test's Clock).
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.interfaces import IReactorTime


def utcnow(clock: IReactorTime) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)
