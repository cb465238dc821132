"""Alembic environment: always called from ``variantly.store.db`` with a live connection."""

from alembic import context

from variantly.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
