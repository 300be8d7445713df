"""`siyu privacy export|erase --phone P`: the PIPL rights of access and erasure."""

from __future__ import annotations

import typer

from siyu.clikit import echo_json, fail, require

app = typer.Typer(
    help="PIPL: export or erase everything held about a person.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="privacy")


@app.command("export")
def export(phone: str = typer.Option(..., "--phone", help="The person's phone number.")) -> None:
    """Print everything held about the person as JSON (audit-logged)."""
    from siyu.db import session_scope
    from siyu.privacy.service import export_person

    actor = require("privacy:export")
    with session_scope() as session:
        data = export_person(session, phone, actor)
    echo_json(data)


@app.command("erase")
def erase(
    phone: str = typer.Option(..., "--phone", help="The person's phone number."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase the person from every table and file; keep an HMAC suppression entry."""
    from siyu.config import MissingSecretKey, get_settings
    from siyu.db import new_session
    from siyu.privacy.service import PrivacyError, erase_person, finish_erasure

    actor = require("privacy:manage")
    if not yes:
        typer.confirm("This permanently erases the person's data. Continue?", abort=True)
    settings = get_settings()
    session = new_session()
    try:
        report = erase_person(session, settings, phone, actor)
        session.commit()
        finish_erasure(session, settings, report)
    except (PrivacyError, MissingSecretKey) as exc:
        session.rollback()
        fail(str(exc))
    finally:
        session.close()
    echo_json(report.as_dict())
