"""held results: partidas keep their keystrokes and a state; users a certified speed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:00:00.000000

A closed partida is now C{publica} (ranked), C{en_revision} (held: C{motivo} is
C{revision} or C{certificacion}, C{regla} the rule that held it), C{aprobada} (released
and ranked), C{anulada} (voided by an admin) or, as before, C{invalida}. The partidas
saved before this revision were all ranked: they become C{publica}.
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eventos", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("regla", sa.Text(), nullable=True))
        batch_op.create_index("ix_partidas_estado_cerrada", ["estado", "cerrada"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("velocidad_certificada", sa.Float(), nullable=True))
    op.execute("UPDATE partidas SET estado = 'publica' WHERE estado = 'guardada'")


def downgrade() -> None:
    op.execute("UPDATE partidas SET estado = 'guardada' WHERE estado IN ('publica', 'aprobada')")
    op.execute("UPDATE partidas SET estado = 'invalida' WHERE estado IN ('en_revision', 'anulada')")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("velocidad_certificada")
    with op.batch_alter_table("partidas", schema=None) as batch_op:
        batch_op.drop_index("ix_partidas_estado_cerrada")
        batch_op.drop_column("regla")
        batch_op.drop_column("eventos")
