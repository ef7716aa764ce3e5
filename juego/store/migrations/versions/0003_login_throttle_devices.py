"""login throttle counters reserved before hashing; device cookies

Failed logins move from one row per failure (C{login_failures}) to one counter row per
key (C{login_throttle}), which a conditional UPDATE reserves atomically before a password
is checked. The failures of the last window become counters, so that a throttle in force
stays in force across the upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 17:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("clave", sa.String(length=300), nullable=False),
        sa.Column("intentos", sa.Integer(), nullable=False),
        sa.Column("desde", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("clave", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_desde"), ["desde"], unique=False)
    op.create_table(
        "device_cookies",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("creada", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usada", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_device_cookies_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_device_cookies")),
    )
    with op.batch_alter_table("device_cookies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_cookies_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_cookies_usada"), ["usada"], unique=False)
    # Each key's failures become its counter, its window opening at the oldest of them
    # (the housekeeping purge drops the ones whose window has passed).
    op.execute(
        "INSERT INTO login_throttle (clave, intentos, desde) "
        "SELECT clave, COUNT(*), MIN(fecha) FROM login_failures GROUP BY clave"
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_clave_fecha")
    op.drop_table("login_failures")


def downgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clave", sa.String(length=300), nullable=False),
        sa.Column("fecha", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_clave_fecha", ["clave", "fecha"], unique=False)
    # A counter becomes as many failures, all at its window's start.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT clave, intentos, desde FROM login_throttle")).all()
    failures = sa.table("login_failures", sa.column("clave"), sa.column("fecha"))
    values = [{"clave": r.clave, "fecha": r.desde} for r in rows for _ in range(max(0, r.intentos))]
    if values:
        op.bulk_insert(failures, values)
    with op.batch_alter_table("device_cookies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_cookies_usada"))
        batch_op.drop_index(batch_op.f("ix_device_cookies_user_id"))
    op.drop_table("device_cookies")
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_desde"))
    op.drop_table("login_throttle")
