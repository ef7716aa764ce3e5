"""
Helpers shared by the tests: fresh, isolated databases on every backend.

SQLite: a new file per test. PostgreSQL: a new schema per test in the local server's
C{test} database (which outlives sessions), dropped afterwards. PostgreSQL tests are
skipped when no server answers, except when C{JUEGO_REQUIRE_POSTGRES} is set (CI), where
they fail instead.
"""

from __future__ import annotations

import datetime
import os
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from juego.store import Store
from juego.store.migrate import upgrade
from juego.store.pool import (
    DBThreadPool,
    SynchronousReactorThreads,
    SynchronousThreadPool,
    makeEngine,
)

POSTGRES_URL = os.environ.get(
    "JUEGO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgresRequired() -> bool:
    return bool(os.environ.get("JUEGO_REQUIRE_POSTGRES"))


def sqliteURL(case: SynchronousTestCase) -> str:
    path = os.path.abspath(case.mktemp())
    os.makedirs(path)
    return f"sqlite:///{path}/juego.db"


def _postgresScratch(case: SynchronousTestCase, create: str, drop: str) -> None:
    """
    Run C{create} on the local PostgreSQL, and C{drop} when the test ends. Skip when no
    server answers, unless PostgreSQL is required (CI): then fail.
    """
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(create))
    except Exception as e:
        admin.dispose()
        if postgresRequired():
            raise AssertionError(f"PostgreSQL is required (CI) but failed: {e}") from e
        raise SkipTest(f"no PostgreSQL server: {e}") from e

    def dropIt() -> None:
        with admin.connect() as conn:
            conn.execute(text(drop))
        admin.dispose()

    case.addCleanup(dropIt)


def postgresURL(case: SynchronousTestCase) -> str:
    """
    A fresh schema in the local PostgreSQL, dropped when the test ends; the URL selects
    it through C{search_path}.
    """
    schema = "juego_t_" + secrets.token_hex(6)
    _postgresScratch(case, f'CREATE SCHEMA "{schema}"', f'DROP SCHEMA "{schema}" CASCADE')
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


def postgresDatabaseURL(case: SynchronousTestCase, prefix: str = "juego_db_") -> str:
    """
    A whole new PostgreSQL database (for several processes, each with its own
    connections), dropped, connections and all, when the test ends.
    """
    name = prefix + secrets.token_hex(6)
    _postgresScratch(
        case, f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def synchronousStore(case: SynchronousTestCase, url: str) -> Store:
    """
    A migrated L{Store} on C{url} whose Deferreds fire at once (no reactor, no threads).
    """
    engine = makeEngine(url)
    upgrade(engine)
    pool = DBThreadPool(engine, SynchronousReactorThreads(), SynchronousThreadPool())
    store = Store(pool)
    case.addCleanup(engine.dispose)
    return store


class SQLiteMixin:
    backend = "sqlite"

    def databaseURL(self: Any) -> str:
        return sqliteURL(self)


class PostgresMixin:
    backend = "postgresql"

    def databaseURL(self: Any) -> str:
        return postgresURL(self)


def selfSigned(directory: str, host: str = "localhost") -> tuple[str, str]:
    """
    A CA-less self-signed certificate for C{host} (and 127.0.0.1); its key and cert paths.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    keyPath, certPath = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    with open(keyPath, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(certPath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return keyPath, certPath


class Boom:
    """
    Loading a pickle of this would create a file; nothing may ever load it.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))
