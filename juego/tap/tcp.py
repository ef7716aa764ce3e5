"""
C{twistd juego-tcp}: the score service (default 127.0.0.1:6000, C{TCP_PERSIST_HOST/PORT}).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService, MultiService

from juego.scores import GroupCommitWriter, ScoreService
from juego.store import Store
from juego.tap import CallbackService, ServiceOptions, listeningService, singleService
from juego.wire import WireFactory


class Options(ServiceOptions):
    """
    juego-tcp: score persistence over the line protocol.
    """


def addTo(
    parent: MultiService, store: Store, description: str, secret: bytes | None, reactor: Any
) -> None:
    """
    The score service's parts: on stop, the listener closes, then the group-commit queue
    is flushed (each reply still leaves after its commit).
    """
    writer = GroupCommitWriter(store.scores)
    factory = WireFactory(ScoreService(writer).handlers(), secret, reactor)
    CallbackService(writer.flush).setServiceParent(parent)
    listeningService(reactor, description, factory).setServiceParent(parent)


def makeService(options: Options) -> IService:
    return singleService(options, "tcp", addTo)
