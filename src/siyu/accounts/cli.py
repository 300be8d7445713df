"""`siyu users …` and `siyu apikey …`."""

from __future__ import annotations

import sqlalchemy as sa
import typer

from siyu.clikit import echo_json, fail, require

users = typer.Typer(help="Console users and roles.", no_args_is_help=True)
apikeys = typer.Typer(
    help="API keys for machines (event ingest, integrations).", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(users, name="users")
    root.add_typer(apikeys, name="apikey")


@users.command("add")
def users_add(
    username: str,
    role: str = typer.Option(..., help="admin, operator, analyst or store_guide."),
    store: str | None = typer.Option(None, help="Store code (store guides only)."),
    display_name: str | None = typer.Option(None, "--name", help="Name shown in the console."),
    wecom_userid: str | None = typer.Option(
        None, "--wecom-userid", help="Their WeCom userid (a guide also serves their WeCom friends)."
    ),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Create a console user."""
    from siyu.accounts.service import create_user, record_audit
    from siyu.brands.models import Store
    from siyu.config import get_settings
    from siyu.db import session_scope

    actor = require("users:manage")
    with session_scope() as session:
        store_id = None
        if store:
            store_id = session.scalar(sa.select(Store.id).where(Store.code == store))
            if store_id is None:
                fail(f"no store with code {store!r}")
        user = create_user(
            session,
            get_settings(),
            username,
            password,
            role,
            display_name=display_name,
            store_id=store_id,
            wecom_userid=wecom_userid,
        )
        record_audit(session, actor, "user.create", "user", str(user.id), {"role": role})
    typer.echo(f"user {username} created ({role})")


@users.command("passwd")
def users_passwd(
    username: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Set a user's password; their open console sessions end with it."""
    from siyu.accounts.models import User
    from siyu.accounts.service import set_password
    from siyu.config import get_settings
    from siyu.db import session_scope

    actor = require("users:manage")
    with session_scope() as session:
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            fail(f"no user {username!r}")
        set_password(session, get_settings(), user, password, actor)
    typer.echo("password changed")


@users.command("list")
def users_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List users and roles."""
    from siyu.accounts.models import User
    from siyu.db import session_scope

    require("users:manage")
    with session_scope() as session:
        rows = [
            {
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "store_id": u.store_id,
                "active": u.is_active,
            }
            for u in session.scalars(sa.select(User).order_by(User.id))
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['username']:<20} {r['role']:<12} {r['name']}")


@apikeys.command("create")
def apikey_create(
    name: str,
    scope: list[str] = typer.Option(
        ["events:write"], "--scope", help="Repeatable; default events:write."
    ),
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from siyu.accounts.service import create_api_key, record_audit
    from siyu.db import session_scope

    actor = require("apikeys:manage")
    with session_scope() as session:
        key, secret = create_api_key(session, name, scope)
        record_audit(session, actor, "apikey.create", "api_key", key.prefix, {"scopes": key.scopes})
    typer.echo(secret)
    typer.echo(
        f"# key {key.prefix} ({', '.join(key.scopes)}) — store it now; it is not shown again",
        err=True,
    )


@apikeys.command("list")
def apikey_list() -> None:
    """List API keys (prefix, name, scopes; never the key)."""
    from siyu.accounts.models import ApiKey
    from siyu.db import session_scope

    require("apikeys:manage")
    with session_scope() as session:
        for k in session.scalars(sa.select(ApiKey).order_by(ApiKey.id)):
            state = "revoked" if k.revoked_at else "active"
            typer.echo(f"{k.prefix}  {k.name:<24} {state:<8} {','.join(k.scopes)}")


@apikeys.command("revoke")
def apikey_revoke(prefix: str) -> None:
    """Revoke an API key by its prefix."""
    from siyu.accounts.service import record_audit, revoke_api_key
    from siyu.db import session_scope

    actor = require("apikeys:manage")
    with session_scope() as session:
        revoke_api_key(session, prefix)
        record_audit(session, actor, "apikey.revoke", "api_key", prefix)
    typer.echo(f"key {prefix} revoked")
