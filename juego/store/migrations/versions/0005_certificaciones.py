"""certification tests: the image test that releases results held for certification

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificaciones",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("texto", sa.Text(), nullable=False),
        sa.Column("semilla", sa.BigInteger(), nullable=False),
        sa.Column("velocidad", sa.Float(), nullable=False),
        sa.Column("objetivo_wpm", sa.Float(), nullable=False),
        sa.Column("creada", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caduca", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vista", sa.DateTime(timezone=True), nullable=True),
        sa.Column("respondida", sa.DateTime(timezone=True), nullable=True),
        sa.Column("aprobada", sa.Boolean(), nullable=True),
        sa.Column("wpm", sa.Float(), nullable=True),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_certificaciones_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificaciones")),
    )
    with op.batch_alter_table("certificaciones", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificaciones_user_id_creada", ["user_id", "creada"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("certificaciones", schema=None) as batch_op:
        batch_op.drop_index("ix_certificaciones_user_id_creada")
    op.drop_table("certificaciones")
