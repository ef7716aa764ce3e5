"""game modes: the daily challenge's attempts, guests' partidas

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:40:00.000000

The daily challenge (a partida's C{modo} C{diario}, revision 0006) allows one attempt per
player, UTC day and language, kept in C{desafios_diarios}. Partidas played without an
account wait in C{partidas_invitado} for the account that claims them. (A practice
partida, C{modo} C{practica}, needs no table of its own.)
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desafios_diarios",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("dia", sa.String(length=10), nullable=False),
        sa.Column("idioma", sa.String(length=8), nullable=False),
        sa.Column("partida_id", sa.String(length=36), nullable=False),
        sa.Column("emitida", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_desafios_diarios_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "dia", "idioma", name=op.f("pk_desafios_diarios")),
    )
    op.create_table(
        "partidas_invitado",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("invitado", sa.String(length=64), nullable=False),
        sa.Column("idioma", sa.String(length=8), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("modo", sa.String(length=16), nullable=False),
        sa.Column("emitida", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cerrada", sa.DateTime(timezone=True), nullable=True),
        sa.Column("estado", sa.String(length=16), nullable=False),
        sa.Column("puntaje", sa.Integer(), nullable=True),
        sa.Column("wpm", sa.Float(), nullable=True),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.Column("duracion_ms", sa.Integer(), nullable=True),
        sa.Column("motivo", sa.Text(), nullable=True),
        sa.Column("regla", sa.Text(), nullable=True),
        sa.Column("eventos", sa.Text(), nullable=True),
        sa.Column("reclamada_por", sa.Integer(), nullable=True),
        sa.Column("reclamada", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partidas_invitado")),
    )
    with op.batch_alter_table("partidas_invitado", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partidas_invitado_invitado_emitida", ["invitado", "emitida"], unique=False
        )
        batch_op.create_index("ix_partidas_invitado_emitida", ["emitida"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("partidas_invitado", schema=None) as batch_op:
        batch_op.drop_index("ix_partidas_invitado_emitida")
        batch_op.drop_index("ix_partidas_invitado_invitado_emitida")
    op.drop_table("partidas_invitado")
    op.drop_table("desafios_diarios")
