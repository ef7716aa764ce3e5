"""
The data layer: one L{Store} per process, its components each owning a part of the
schema, every method returning a Deferred and running on the database thread pool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from juego.store.accounts import AccountsStore
from juego.store.boards import BoardsStore
from juego.store.certifications import CertificationsStore
from juego.store.guests import GuestsStore
from juego.store.migrate import ensureSchema
from juego.store.modes import ModesStore
from juego.store.notifications import NotificationsStore
from juego.store.partidas import PartidasStore
from juego.store.pool import DBThreadPool, makeEngine
from juego.store.races import RacesStore
from juego.store.replays import ReplaysStore
from juego.store.results import ResultsStore
from juego.store.scores import ScoresStore
from juego.store.stats import StatsStore
from juego.store.users import UsersStore


class Store:
    """
    The database, as the services see it.

    @ivar pool: the L{DBThreadPool} every component runs on.
    """

    def __init__(self, pool: DBThreadPool) -> None:
        self.pool = pool
        self.users = UsersStore(pool)
        self.scores = ScoresStore(pool)
        self.stats = StatsStore(pool)
        self.notifications = NotificationsStore(pool)
        self.accounts = AccountsStore(pool)
        self.partidas = PartidasStore(pool)
        self.certifications = CertificationsStore(pool)
        self.modes = ModesStore(pool)
        self.guests = GuestsStore(pool)
        self.results = ResultsStore(pool)
        self.boards = BoardsStore(pool, self.stats)
        self.replays = ReplaysStore(pool)
        self.races = RacesStore(pool)

    @classmethod
    def open(cls, url: str, reactor: Any, threads: int | None = None, **kw: Any) -> Store:
        """
        Connect to C{url}, bring (SQLite) or check (other engines) its schema.
        """
        engine = makeEngine(url, threads)
        ensureSchema(engine)
        return cls(DBThreadPool(engine, reactor, **kw))

    @property
    def engine(self) -> Engine:
        return self.pool.engine

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()
