"""one writer on the save path: juego-tcp's outbox of record notifications

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:30:00.000000

Partidas are issued as signed tokens (35 characters: they fit C{partidas.id}) and
written when they close, by juego-tcp on the verified-save path. For a new record it
queues the notification in C{score_outbox}, in the transaction that stores the score, and
hands it to juego-dist itself. Existing rows are untouched: a partida issued before this
revision (a UUID) is still open in C{partidas} and closes as before.
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("creado", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intentos", sa.Integer(), nullable=False),
        sa.Column("proximo", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_outbox")),
    )
    with op.batch_alter_table("score_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_score_outbox_proximo"), ["proximo"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("score_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_outbox_proximo"))
    op.drop_table("score_outbox")
