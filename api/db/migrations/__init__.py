"""Alembic migrations of the service database (run with ``rag-migrate``)."""
