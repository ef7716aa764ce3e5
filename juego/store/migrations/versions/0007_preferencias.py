"""players' preferences: the site's theme and the game's language, remembered per account

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:30:00.000000

C{tema} is C{claro}, C{oscuro} or C{sistema} (follow the device: every existing account);
C{idioma} the language of the words last chosen for a game (C{es}, C{en}; NULL: never
chosen, the game's default).
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tema", sa.String(length=8), nullable=False, server_default="sistema")
        )
        batch_op.add_column(sa.Column("idioma", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("idioma")
        batch_op.drop_column("tema")
