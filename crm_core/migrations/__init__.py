"""Alembic migrations: the only way the schema changes, the same on SQLite and PostgreSQL."""
