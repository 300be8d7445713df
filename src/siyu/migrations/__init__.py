"""Alembic migrations of the system of record, run by `siyu db upgrade` and at start-up."""
