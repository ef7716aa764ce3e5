"""
Database engines and the thread pool that runs every unit of database work.

Buildbot's C{DBThreadPool} is the model: one SQLAlchemy L{Engine}, a dedicated
L{ThreadPool} started and stopped with the service, and one C{deferToThreadPool} per unit
of work, which runs inside C{engine.begin()}. Only plain values cross back to the reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from juego.config import ConfigError

P = ParamSpec("P")
T = TypeVar("T")

#: Database threads for each engine; the engine's connection pool is sized to match.
DEFAULT_THREADS = {"sqlite": 4, "postgresql": 8}

#: libpq settings for every PostgreSQL connection, unless the URL sets them: a database
#: host that vanishes (a partition, a dead machine) costs a bounded wait, never the
#: minutes the kernel's own TCP timeouts take. C{connect_timeout} bounds a new
#: connection; C{tcp_user_timeout} (ms) drops a connection whose sent data goes
#: unacknowledged that long; keepalives notice an idle connection whose peer is gone.
#: None of them limits a slow query: a query being worked on keeps its data acknowledged.
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 5,
    "tcp_user_timeout": 5000,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}

#: The extra that installs each backend's driver.
DRIVER_EXTRAS = {"postgresql": "postgres"}


class DriverMissing(ConfigError):
    """
    The database URL names a driver that is not installed (the message names the extra).
    """


def normaliseURL(url: str) -> str:
    """
    Let C{postgresql://} URLs use psycopg 3, the driver juego installs.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def makeEngine(url: str, threads: int | None = None, **kwargs: Any) -> Engine:
    """
    Make the engine for C{url}: SQLite in WAL mode with real transactions (C{BEGIN
    IMMEDIATE} for writes), PostgreSQL through psycopg 3 with a pool the size of the
    thread pool.
    """
    url = normaliseURL(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    size = threads or DEFAULT_THREADS.get(backend, 4)
    try:
        if backend == "sqlite":
            engine = create_engine(
                url,
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=size,
                max_overflow=0,
                **kwargs,
            )
            _sqliteTransactions(engine)
            return engine
        connectArgs: dict[str, Any] = {}
        if parsed.get_driver_name() == "psycopg":
            connectArgs = {k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in parsed.query}
        return create_engine(
            url,
            pool_size=size,
            max_overflow=2,
            pool_pre_ping=True,
            connect_args=connectArgs,
            **kwargs,
        )
    except (ImportError, NoSuchModuleError) as e:
        raise DriverMissing(_driverMissing(parsed.render_as_string(), backend, e)) from None


def _driverMissing(url: str, backend: str, error: Exception) -> str:
    """
    The one line that says which driver a database URL needs and how to install it.
    """
    missing = getattr(error, "name", None) or str(error)
    extra = DRIVER_EXTRAS.get(backend)
    if extra is None:
        fix = "install its SQLAlchemy dialect and driver"
    elif missing == "psycopg":
        fix = f"pip install 'juego[{extra}]'"
    else:
        fix = f"pip install {missing}, or use a postgresql:// URL and pip install 'juego[{extra}]'"
    return f"the database URL {url} needs a driver that is not installed ({missing}): {fix}"


def databaseUnavailable(error: BaseException) -> bool:
    """
    Whether C{error} says the database cannot be reached now (a failed or lost
    connection, a server shutting down, no pooled connection in time), as opposed to
    a bug or a refused statement: an outage, to answer "unavailable, try again" and log
    in one line, not a bug to log with its traceback.
    """
    if isinstance(error, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
        )
    return False


def oneLine(error: BaseException, limit: int = 300) -> str:
    """
    An exception as one short line for the log (drivers' messages span lines).
    """
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sqliteTransactions(engine: Engine) -> None:
    """
    Take transaction control away from the pysqlite driver (which would otherwise begin
    lazily and never for DDL) and begin explicitly: C{BEGIN IMMEDIATE} when the connection
    asks for it, so that writers queue on the lock instead of failing to upgrade it.
    """

    @event.listens_for(engine, "connect")
    def connect(dbapiConnection: Any, record: Any) -> None:
        dbapiConnection.isolation_level = None
        cursor = dbapiConnection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed score survives a power cut, not just a crash.
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("juego_begin", "BEGIN")
        connection.exec_driver_sql(mode)


#: Writes that one shared transaction holds at most.
MAX_WRITE_BATCH = 256


class _Write:
    __slots__ = ("fn", "a", "kw", "d")

    def __init__(
        self, fn: Callable[..., Any], a: tuple[Any, ...], kw: dict[str, Any], d: Deferred[Any]
    ) -> None:
        self.fn, self.a, self.kw, self.d = fn, a, kw, d


class DBThreadPool:
    """
    Runs functions of a L{Connection} in a transaction, on a dedicated thread pool.

    @ivar engine: the engine.
    """

    def __init__(
        self,
        engine: Engine,
        reactor: IReactorFromThreads,
        threadpool: Any = None,
    ) -> None:
        self.engine = engine
        self._writeEngine = engine.execution_options(juego_begin="BEGIN IMMEDIATE")
        self._reactor = reactor
        if threadpool is None:
            threadpool = ThreadPool(
                minthreads=1,
                maxthreads=engine.pool.size(),  # type: ignore[attr-defined]
                name="juego-db",
            )
        self.threadpool = threadpool
        self.dialect = engine.dialect.name
        self._writes: list[_Write] = []
        self._writing = False
        #: Write transactions begun so far (the C{juego_db_write_transactions} metric).
        self.writeTransactions = 0

    def start(self) -> None:
        if not self.threadpool.started:
            self.threadpool.start()

    def stop(self) -> None:
        if self.threadpool.started:
            self.threadpool.stop()
        self.engine.dispose()

    def _call(self, engine: Engine, fn: Callable[..., T], *a: Any, **kw: Any) -> Deferred[T]:
        def inThread() -> T:
            with engine.begin() as connection:
                return fn(connection, *a, **kw)

        return deferToThreadPool(self._reactor, self.threadpool, inThread)

    def read(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **kw: P.kwargs
    ) -> Deferred[T]:
        """
        Run C{fn(connection, *a, **kw)} in a transaction that only reads.
        """
        return self._call(self.engine, fn, *a, **kw)

    def write(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **kw: P.kwargs
    ) -> Deferred[T]:
        """
        Run C{fn(connection, *a, **kw)} in a transaction that writes (on SQLite it takes
        the write lock when it begins).

        Group commit: while one write transaction runs, the writes asked for meanwhile
        wait and then run together in the next one, each inside its own savepoint (a
        write that fails is rolled back alone and fails alone). The Deferred fires after
        the commit. If the shared transaction fails as a whole (a lost lock race, a
        deadlock on PostgreSQL), each of its writes is run again in a transaction of its
        own.
        """
        d: Deferred[T] = Deferred()
        self._writes.append(_Write(fn, a, kw, d))
        if not self._writing:
            self._writeNext()
        return d

    def _writeNext(self) -> None:
        if not self._writes:
            self._writing = False
            return
        batch = self._writes[:MAX_WRITE_BATCH]
        del self._writes[:MAX_WRITE_BATCH]
        self._writing = True
        done = deferToThreadPool(
            self._reactor,
            self.threadpool,
            self._runWrites,
            batch,
        )
        done.addCallback(self._deliver, batch)
        done.addErrback(self._failAll, batch)
        done.addBoth(lambda _: self._writeNext())

    def _runWrites(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        """
        In a database thread: the batch in one transaction, or (if that fails as a
        whole, or for a batch of one) each write in its own.
        """
        if len(batch) > 1:
            try:
                return self._together(batch)
            except Exception:
                pass
        return [self._alone(write) for write in batch]

    def _together(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        self.writeTransactions += 1
        with self._writeEngine.begin() as connection:
            for write in batch:
                try:
                    with connection.begin_nested():
                        results.append((True, write.fn(connection, *write.a, **write.kw)))
                except Exception:
                    results.append((False, Failure()))
        return results

    def _alone(self, write: _Write) -> tuple[bool, Any]:
        self.writeTransactions += 1
        try:
            with self._writeEngine.begin() as connection:
                return True, write.fn(connection, *write.a, **write.kw)
        except Exception:
            return False, Failure()

    @staticmethod
    def _deliver(results: list[tuple[bool, Any]], batch: list[_Write]) -> None:
        for write, (ok, value) in zip(batch, results, strict=True):
            if ok:
                write.d.callback(value)
            else:
                write.d.errback(value)

    @staticmethod
    def _failAll(failure: Failure, batch: list[_Write]) -> None:
        for write in batch:
            if not write.d.called:
                write.d.errback(failure)


class SynchronousThreadPool:
    """
    A stand-in for L{ThreadPool} that runs work at once, in the calling thread: with
    L{SynchronousReactorThreads} it makes a L{DBThreadPool} synchronous, for tests.
    """

    started = True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def callInThreadWithCallback(
        self, onResult: Callable[[bool, Any], None], func: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        try:
            result = func(*a, **kw)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


@implementer(IReactorFromThreads)
class SynchronousReactorThreads:
    """
    An L{IReactorFromThreads} that calls at once.
    """

    def callFromThread(self, callable: Callable[..., Any], *args: object, **kwargs: object) -> None:
        callable(*args, **kwargs)


__all__ = [
    "DBThreadPool",
    "DriverMissing",
    "databaseUnavailable",
    "oneLine",
    "SynchronousThreadPool",
    "SynchronousReactorThreads",
    "makeEngine",
    "normaliseURL",
    "succeed",
    "fail",
]
