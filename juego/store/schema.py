"""
The database schema (SQLAlchemy Core). Migrations in C{migrations/} create it; nothing in a
production path calls C{create_all}.

Aggregates are kept at write time so that no request scans the scores:

  - C{user_aggregates}: a player's best (and when it was first reached, for ties), games
    played, total points and last game;
  - C{best_counts}: how many players hold each best (the rank is a sum over distinct bests
    above one's own, plus the ties reached earlier);
  - C{activity_days}: how many players had their last game on each UTC day (active players
    are a sum over the last days);
  - C{totals}: one row of global counters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """
    Aware UTC datetimes in, aware UTC datetimes out, whatever the engine keeps.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _userFK() -> ForeignKey:
    return ForeignKey("users.id", ondelete="CASCADE")


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("nombre", String(40), nullable=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("es_admin", Boolean, nullable=False, default=False),
    Column("bio", Text, nullable=False, default=""),
    Column("fecha_registro", UTCDateTime, nullable=False),
    # The speed (wpm) the player proved in the certification test; NULL: never certified.
    Column("velocidad_certificada", Float, nullable=True),
    # Preferences: the site's theme (claro, oscuro, sistema) and the game's language
    # (es, en; NULL: never chosen).
    Column("tema", String(8), nullable=False, default="sistema", server_default="sistema"),
    Column("idioma", String(2), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, _userFK(), nullable=False, index=True),
    Column("creada", UTCDateTime, nullable=False),
    Column("expira", UTCDateTime, nullable=False, index=True),
)

# Attempts counted per key (an account, a client address, a device cookie) in a window
# that opens at the first attempt: a conditional UPDATE of one row reserves an attempt, so
# that concurrent requests on any web node cannot overrun the limit.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("clave", String(300), primary_key=True),
    Column("intentos", Integer, nullable=False),
    Column("desde", UTCDateTime, nullable=False, index=True),
)

# Browsers that have logged into an account (OWASP "device cookies"), by the SHA-256 of
# the cookie's random token.
device_cookies = Table(
    "device_cookies",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, _userFK(), nullable=False, index=True),
    Column("creada", UTCDateTime, nullable=False),
    Column("usada", UTCDateTime, nullable=False, index=True),
)

partidas = Table(
    "partidas",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, _userFK(), nullable=False),
    Column("idioma", String(8), nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("emitida", UTCDateTime, nullable=False),
    Column("cerrada", UTCDateTime, nullable=True),
    # abierta; then publica (ranked), en_revision (held), aprobada (released, ranked),
    # anulada (voided by an admin) or invalida (broke a rule)
    Column("estado", String(16), nullable=False, default="abierta"),
    Column("puntaje", Integer, nullable=True),
    Column("wpm", Float, nullable=True),
    Column("precision", Float, nullable=True),
    # The verified game's length in ms (the last event's t).
    Column("duracion_ms", Integer, nullable=True),
    # invalida: the broken rule; en_revision (and after): revision or certificacion
    Column("motivo", Text, nullable=True),
    # A held result: the rule that held it (Spanish, for the player and the admin).
    Column("regla", Text, nullable=True),
    # The verified events with their keystrokes (JSON), the evidence kept for replays.
    Column("eventos", Text, nullable=True),
    # normal, diario (the daily challenge) or practica (counts nowhere): the boards filter on it.
    Column("modo", String(16), nullable=False, default="normal", server_default="normal"),
    Index("ix_partidas_user_cerrada", "user_id", "cerrada"),
    Index("ix_partidas_estado_cerrada", "estado", "cerrada"),
)

# The daily challenge: one attempt per player, UTC day and language, written when the
# partida is issued (the primary key refuses a second one).
desafios_diarios = Table(
    "desafios_diarios",
    metadata,
    Column("user_id", Integer, _userFK(), primary_key=True),
    # The UTC day, ISO (2026-11-30).
    Column("dia", String(10), primary_key=True),
    Column("idioma", String(8), primary_key=True),
    Column("partida_id", String(36), nullable=False),
    Column("emitida", UTCDateTime, nullable=False),
)

# Partidas played without an account, owned by a browser's guest cookie (its SHA-256). A
# verified result waits here for the account that signs up or logs in from that browser
# within the partida's lifetime; the claim copies it into partidas (and hands a public one
# to juego-tcp) once.
partidas_invitado = Table(
    "partidas_invitado",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("invitado", String(64), nullable=False),
    Column("idioma", String(8), nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("modo", String(16), nullable=False),
    Column("emitida", UTCDateTime, nullable=False),
    Column("cerrada", UTCDateTime, nullable=True),
    # abierta; then publica or en_revision (a result to claim), invalida, descartada or
    # practica (nothing to claim)
    Column("estado", String(16), nullable=False),
    Column("puntaje", Integer, nullable=True),
    Column("wpm", Float, nullable=True),
    Column("precision", Float, nullable=True),
    Column("duracion_ms", Integer, nullable=True),
    Column("motivo", Text, nullable=True),
    Column("regla", Text, nullable=True),
    Column("eventos", Text, nullable=True),
    # The account that claimed it, and when.
    Column("reclamada_por", Integer, nullable=True),
    Column("reclamada", UTCDateTime, nullable=True),
    Index("ix_partidas_invitado_invitado_emitida", "invitado", "emitida"),
    Index("ix_partidas_invitado_emitida", "emitida"),
)

scores = Table(
    "scores",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, _userFK(), nullable=False, index=True),
    Column("puntaje", Integer, nullable=False),
    Column("fecha", UTCDateTime, nullable=False),
    # The idempotency key of the save (the partida id for played games), unique when set.
    Column("clave", String(64), nullable=True, unique=True),
    # What the save answered, so that a retried save answers the same.
    Column("nuevo_record", Boolean, nullable=False),
    Column("puntaje_maximo", Integer, nullable=False),
)

user_aggregates = Table(
    "user_aggregates",
    metadata,
    Column("user_id", Integer, _userFK(), primary_key=True),
    Column("puntaje_maximo", Integer, nullable=False, default=0),
    # When the current best was first reached: earlier wins ties.
    Column("fecha_maximo", UTCDateTime, nullable=True),
    Column("partidas_jugadas", Integer, nullable=False, default=0),
    Column("puntaje_total", BigInteger, nullable=False, default=0),
    Column("fecha_ultimo_juego", UTCDateTime, nullable=True),
    # UTC day number (days since 1970-01-01) of the last game, for activity_days.
    Column("dia_ultimo_juego", Integer, nullable=True),
)

# Ranking order: best first, then who reached it first, then id (distinct positions).
Index(
    "ix_user_aggregates_ranking",
    user_aggregates.c.puntaje_maximo.desc(),
    user_aggregates.c.fecha_maximo,
    user_aggregates.c.user_id,
)

best_counts = Table(
    "best_counts",
    metadata,
    Column("puntaje", Integer, primary_key=True, autoincrement=False),
    Column("jugadores", Integer, nullable=False),
)

activity_days = Table(
    "activity_days",
    metadata,
    Column("dia", Integer, primary_key=True, autoincrement=False),
    Column("jugadores", Integer, nullable=False),
)

totals = Table(
    "totals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("usuarios", BigInteger, nullable=False, default=0),
    Column("jugadores", BigInteger, nullable=False, default=0),
    Column("suma_mejores", BigInteger, nullable=False, default=0),
    Column("partidas", BigInteger, nullable=False, default=0),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, _userFK(), nullable=False),
    Column("message", Text, nullable=False),
    Column("type", String(16), nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("leida", Boolean, nullable=False, default=False),
    # Idempotency key: a notification added twice with the same key is stored once.
    Column("clave", String(64), nullable=True, unique=True),
    Index("ix_notifications_user_id_id", "user_id", "id"),
)


def _outboxTable(name: str) -> Table:
    """
    An outbox: work for another service (C{kind}, a JSON C{payload}), tried again at
    C{proximo} until that service confirms it (L{juego.store.outbox}).
    """
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String(32), nullable=False),
        Column("payload", Text, nullable=False),
        Column("creado", UTCDateTime, nullable=False),
        Column("intentos", Integer, nullable=False, default=0),
        Column("proximo", UTCDateTime, nullable=False, index=True),
    )


# juego-web's outbox: save_score (a result juego-tcp could not take at once, or one
# released later) and add_notification (records queued before juego-tcp delivered them).
outbox = _outboxTable("outbox")
# juego-tcp's outbox: the record notifications its group commit queues, in the transaction
# that stores the score, for it to hand to juego-dist (L{juego.scores.RecordNotices}).
score_outbox = _outboxTable("score_outbox")

#: The tables with an outbox's shape (L{juego.store.outbox}).
OUTBOXES = (outbox, score_outbox)

# The certification tests (docs/SECURITY.md, "The ranking: human results only"): a player with results held for
# certification types the text of a server-rendered image; the server times it from the
# image's first fetch (kept here, so any web node can take the answer).
certificaciones = Table(
    "certificaciones",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, _userFK(), nullable=False),
    # The text to type and the seed the image is drawn from. Never leaves the server but
    # as the image.
    Column("texto", Text, nullable=False),
    Column("semilla", BigInteger, nullable=False),
    # The held speed this test certifies, and the speed the answer must reach.
    Column("velocidad", Float, nullable=False),
    Column("objetivo_wpm", Float, nullable=False),
    Column("creada", UTCDateTime, nullable=False),
    Column("caduca", UTCDateTime, nullable=False),
    # The first image fetch: the server's clock starts here.
    Column("vista", UTCDateTime, nullable=True),
    # The one answer: when, and how it went.
    Column("respondida", UTCDateTime, nullable=True),
    Column("aprobada", Boolean, nullable=True),
    Column("wpm", Float, nullable=True),
    Column("precision", Float, nullable=True),
    Index("ix_certificaciones_user_id_creada", "user_id", "creada"),
)

# Live races (juego.race): one row a racer whose verified result reached the room (written
# by the rooms' owner, juego-dist, as it arrives: a restart of the owner loses none).
# posicion: the finishing place, NULL for a racer who did not type every word.
carreras = Table(
    "carreras",
    metadata,
    Column("partida_id", String(64), primary_key=True),
    Column("sala", String(32), nullable=False),
    Column("user_id", Integer, _userFK(), nullable=False),
    Column("posicion", Integer, nullable=True),
    Column("corredores", Integer, nullable=False),
    Column("fecha", UTCDateTime, nullable=False),
    Index("ix_carreras_user_id_fecha", "user_id", "fecha"),
    Index("ix_carreras_posicion_fecha", "posicion", "fecha"),
)
