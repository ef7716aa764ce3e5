"""live races: one row a racer whose verified result reached the room

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 20:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carreras",
        sa.Column("partida_id", sa.String(length=64), nullable=False),
        sa.Column("sala", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("posicion", sa.Integer(), nullable=True),
        sa.Column("corredores", sa.Integer(), nullable=False),
        sa.Column("fecha", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_carreras_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("partida_id", name=op.f("pk_carreras")),
    )
    with op.batch_alter_table("carreras", schema=None) as batch_op:
        batch_op.create_index("ix_carreras_user_id_fecha", ["user_id", "fecha"], unique=False)
        batch_op.create_index("ix_carreras_posicion_fecha", ["posicion", "fecha"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("carreras", schema=None) as batch_op:
        batch_op.drop_index("ix_carreras_posicion_fecha")
        batch_op.drop_index("ix_carreras_user_id_fecha")
    op.drop_table("carreras")
