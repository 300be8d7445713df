"""`siyu wecom tags …`: keep Siyu tags and WeCom corp tags in step."""

from __future__ import annotations

import typer

from siyu.clikit import fail, require

tags_app = typer.Typer(help="Tag sync with WeCom corp tags (企业客户标签).", no_args_is_help=True)


@tags_app.command("sync")
def tags_sync(corp: str = typer.Option(None, "--corp")) -> None:
    """Read WeCom's corp tags now and pair each with a Siyu tag (created if missing)."""
    from siyu.db import session_scope
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.connection.service import WecomConfigError, client_for, only_corp, record_calls
    from siyu.wecom.tagsync.service import sync_corp_tags

    require("wecom:manage")
    with session_scope() as session:
        try:
            target = only_corp(session, corp)
            client = client_for(session, target)
            out = sync_corp_tags(session, target, client)
            record_calls(session, target, client)
        except (WecomConfigError, WecomError) as exc:
            fail(str(exc))
    typer.echo(
        f"{out['corp_tags']} corp tags; {out['siyu_tags_created']} Siyu tags created; "
        f"{out['deleted_at_wecom']} deleted at WeCom"
    )


@tags_app.command("pair")
def tags_pair(
    path: str = typer.Argument(..., help="The Siyu tag, 分组/标签."),
    corp: str = typer.Option(None, "--corp"),
) -> None:
    """Keep a Siyu tag in step with WeCom: the corp tag is created if WeCom lacks it, and the
    worker marks it on the friendships of everyone who holds it."""
    from siyu.db import session_scope
    from siyu.tags.service import TagError, find_tag
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.connection.service import WecomConfigError, client_for, only_corp, record_calls
    from siyu.wecom.tagsync.service import TagSyncError, pair

    require("wecom:manage")
    with session_scope() as session:
        try:
            target = only_corp(session, corp)
            client = client_for(session, target)
            link = pair(session, target, client, find_tag(session, path))
            record_calls(session, target, client)
        except (WecomConfigError, WecomError, TagError, TagSyncError) as exc:
            fail(str(exc))
        wecom_id = link.wecom_tag_id
    typer.echo(f"{path} paired with WeCom tag {wecom_id}; its holders are being marked")
