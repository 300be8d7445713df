"""The models and the migrations agree (an autogenerate diff is empty), on both engines."""

from __future__ import annotations

from siyu.migrations.runner import drift


def test_models_and_migrations_agree(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        assert drift(conn) == []


def test_tables_exist_for_every_model(engine) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from siyu.models import metadata

    names = set(sa.inspect(engine).get_table_names())
    assert set(metadata.tables) <= names
