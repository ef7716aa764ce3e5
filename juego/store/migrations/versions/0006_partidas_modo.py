"""boards: a partida's mode (normal or diario), for the daily challenge's board

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:10:00.000000

Every partida stored before this revision was an ordinary game: C{normal}.
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("modo", sa.String(length=16), nullable=False, server_default="normal")
        )


def downgrade() -> None:
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.drop_column("modo")
