"""
Alembic environment: always driven from L{juego.store.migrate} with a live connection.
"""

from alembic import context

from juego.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("juego migrations run through juego.store.migrate, with a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
