"""`siyu brands …`: brands and their stores."""

from __future__ import annotations

import sqlalchemy as sa
import typer

from siyu.clikit import fail, require

app = typer.Typer(help="Brands and stores.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="brands")


@app.command("add")
def add(code: str, name: str) -> None:
    """Add a brand."""
    from siyu.accounts.service import record_audit
    from siyu.brands.service import add_brand
    from siyu.db import session_scope

    actor = require("users:manage")
    with session_scope() as session:
        brand = add_brand(session, code, name)
        record_audit(session, actor, "brand.create", "brand", str(brand.id))
    typer.echo(f"brand {code} added")


@app.command("add-store")
def add_store(
    brand: str,
    code: str,
    name: str,
    province: str | None = typer.Option(None),
    city: str | None = typer.Option(None),
) -> None:
    """Add a store to a brand."""
    from siyu.brands.models import Brand, Store
    from siyu.db import session_scope

    require("users:manage")
    with session_scope() as session:
        brand_id = session.scalar(sa.select(Brand.id).where(Brand.code == brand))
        if brand_id is None:
            fail(f"no brand {brand!r}")
        if session.scalar(
            sa.select(Store.id).where(Store.brand_id == brand_id, Store.code == code)
        ):
            fail(f"store {code!r} already exists in {brand}")
        session.add(Store(brand_id=brand_id, code=code, name=name, province=province, city=city))
    typer.echo(f"store {code} added to {brand}")


@app.command("list")
def list_brands() -> None:
    """List brands and their stores."""
    from siyu.brands.models import Brand, Store
    from siyu.db import session_scope

    with session_scope() as session:
        for b in session.scalars(sa.select(Brand).order_by(Brand.id)):
            typer.echo(f"{b.code}  {b.name}")
            for s in session.scalars(
                sa.select(Store).where(Store.brand_id == b.id).order_by(Store.code)
            ):
                typer.echo(f"    {s.code}  {s.name}  {s.city or ''}")
