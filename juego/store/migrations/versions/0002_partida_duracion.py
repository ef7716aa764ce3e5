"""partidas keep their game's duration

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duracion_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.drop_column("duracion_ms")
