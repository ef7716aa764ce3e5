"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 10:10:29.191677
"""

from alembic import op
import sqlalchemy as sa


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_days",
        sa.Column("dia", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("jugadores", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dia", name=op.f("pk_activity_days")),
    )
    op.create_table(
        "best_counts",
        sa.Column("puntaje", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("jugadores", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("puntaje", name=op.f("pk_best_counts")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clave", sa.String(length=300), nullable=False),
        sa.Column("fecha", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_clave_fecha", ["clave", "fecha"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("creado", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intentos", sa.Integer(), nullable=False),
        sa.Column("proximo", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_proximo"), ["proximo"], unique=False)

    op.create_table(
        "totals",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("usuarios", sa.BigInteger(), nullable=False),
        sa.Column("jugadores", sa.BigInteger(), nullable=False),
        sa.Column("suma_mejores", sa.BigInteger(), nullable=False),
        sa.Column("partidas", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totals")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nombre", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("es_admin", sa.Boolean(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("fecha_registro", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leida", sa.Boolean(), nullable=False),
        sa.Column("clave", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("clave", name=op.f("uq_notifications_clave")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "partidas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("idioma", sa.String(length=8), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("emitida", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cerrada", sa.DateTime(timezone=True), nullable=True),
        sa.Column("estado", sa.String(length=16), nullable=False),
        sa.Column("puntaje", sa.Integer(), nullable=True),
        sa.Column("wpm", sa.Float(), nullable=True),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.Column("motivo", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_partidas_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partidas")),
    )
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.create_index("ix_partidas_user_cerrada", ["user_id", "cerrada"], unique=False)

    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("puntaje", sa.Integer(), nullable=False),
        sa.Column("fecha", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clave", sa.String(length=64), nullable=True),
        sa.Column("nuevo_record", sa.Boolean(), nullable=False),
        sa.Column("puntaje_maximo", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scores_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
        sa.UniqueConstraint("clave", name=op.f("uq_scores_clave")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scores_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("creada", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expira", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_expira"), ["expira"], unique=False)
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "user_aggregates",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("puntaje_maximo", sa.Integer(), nullable=False),
        sa.Column("fecha_maximo", sa.DateTime(timezone=True), nullable=True),
        sa.Column("partidas_jugadas", sa.Integer(), nullable=False),
        sa.Column("puntaje_total", sa.BigInteger(), nullable=False),
        sa.Column("fecha_ultimo_juego", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dia_ultimo_juego", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_aggregates_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_aggregates")),
    )
    with op.batch_alter_table("user_aggregates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_user_aggregates_ranking",
            [sa.text("puntaje_maximo DESC"), "fecha_maximo", "user_id"],
            unique=False,
        )
    totals = sa.table(
        "totals",
        sa.column("id", sa.Integer),
        sa.column("usuarios", sa.BigInteger),
        sa.column("jugadores", sa.BigInteger),
        sa.column("suma_mejores", sa.BigInteger),
        sa.column("partidas", sa.BigInteger),
    )
    op.bulk_insert(
        totals,
        [{"id": 1, "usuarios": 0, "jugadores": 0, "suma_mejores": 0, "partidas": 0}],
    )


def downgrade() -> None:
    with op.batch_alter_table("user_aggregates", schema=None) as batch_op:
        batch_op.drop_index("ix_user_aggregates_ranking")

    op.drop_table("user_aggregates")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_sessions_expira"))

    op.drop_table("sessions")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scores_user_id"))

    op.drop_table("scores")
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.drop_index("ix_partidas_user_cerrada")

    op.drop_table("partidas")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id_id")

    op.drop_table("notifications")
    op.drop_table("users")
    op.drop_table("totals")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_proximo"))

    op.drop_table("outbox")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_clave_fecha")

    op.drop_table("login_failures")
    op.drop_table("best_counts")
    op.drop_table("activity_days")
