"""Siyu tags ↔ WeCom corp tags (企业客户标签), both directions.

The rule when the two sides disagree (documented for operators in the user guide):

- Tags are paired once and then by id (``WecomTagLink``): on first sight a WeCom tag group
  pairs with the Siyu tag group of the same name (created if missing), and a WeCom tag with the
  Siyu tag of the same name in it. Renaming afterwards on either side keeps the pair.
- WeCom → Siyu: a customer holds a paired tag with source 企业微信 while any of their
  friendships holds the corp tag; when guides remove it in WeCom, that assignment goes.
- Siyu → WeCom: a paired tag put on a customer in Siyu (by hand, by a live code or a keyword
  rule) is marked on every live friendship of the customer after commit (job
  ``wecom.tags.push``); one taken off by hand is removed there too. Tags set by rules are
  computed for the whole pool and stay in Siyu (they would flood WeCom's API).
- WeCom never removes what Siyu itself assigned: if a guide removes in WeCom a tag Siyu put on,
  the Siyu assignment stays (it shows who set it) and the WeCom-side one is gone.
- A corp tag deleted in WeCom marks the pair deleted; the Siyu tag and Siyu's own assignments
  stay. ``siyu wecom tags push`` pairs a Siyu tag that WeCom does not have yet, creating it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.jobs.service import enqueue
from siyu.tags.models import CustomerTag, Tag, TagGroup
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.contacts.models import WecomContact
from siyu.wecom.tagsync.models import WecomTagLink

MIRROR_ACTOR = "wecom:corp-tag"
MIRROR_SOURCE = "wecom"
WECOM_NAME_MAX = 30
PUSH_BATCH = 500


class TagSyncError(ValueError):
    """A tag that cannot be paired with WeCom; the message says why."""


def sync_corp_tags(session: Session, corp: WecomCorp, client: WecomClient) -> dict[str, int]:
    """Read WeCom's corp tags and pair each with a Siyu tag (created if missing)."""
    data = client.post("externalcontact/get_corp_tag_list", {})
    links = {
        link.wecom_tag_id: link
        for link in session.scalars(sa.select(WecomTagLink).where(WecomTagLink.corp_id == corp.id))
    }
    paired_tags = {link.tag_id for link in links.values()}
    seen: set[str] = set()
    created = 0
    for group in data.get("tag_group") or []:
        if group.get("deleted"):
            continue
        for wtag in group.get("tag") or []:
            if wtag.get("deleted"):
                continue
            wid = str(wtag.get("id", ""))
            seen.add(wid)
            link = links.get(wid)
            if link is not None:
                link.deleted, link.wecom_group_id, link.synced_at = (
                    False,
                    str(group.get("group_id", "")),
                    clock.now(),
                )
                continue
            tag, new = _siyu_tag(
                session, str(group.get("group_name", "")), str(wtag.get("name", ""))
            )
            created += new
            if tag.id in paired_tags:  # already paired with another WeCom tag of this corp
                continue
            link = WecomTagLink(
                corp_id=corp.id,
                tag_id=tag.id,
                wecom_tag_id=wid,
                wecom_group_id=str(group.get("group_id", "")),
                deleted=False,
                synced_at=clock.now(),
            )
            session.add(link)
            links[wid], paired_tags = link, paired_tags | {tag.id}
    gone = 0
    for wid, link in links.items():
        if wid not in seen and not link.deleted:
            link.deleted, gone = True, gone + 1
    session.flush()
    return {"corp_tags": len(seen), "siyu_tags_created": created, "deleted_at_wecom": gone}


def _siyu_tag(session: Session, group_name: str, name: str) -> tuple[Tag, int]:
    group_name, name = group_name.strip()[:50] or "企业微信", name.strip()[:50]
    group = session.scalar(sa.select(TagGroup).where(TagGroup.name == group_name))
    if group is None:
        group = TagGroup(name=group_name, single=False)
        session.add(group)
        session.flush()
    tag = session.scalar(sa.select(Tag).where(Tag.group_id == group.id, Tag.name == name))
    if tag is not None:
        return tag, 0
    tag = Tag(group_id=group.id, name=name)
    session.add(tag)
    session.flush()
    return tag, 1


def mirror(session: Session, corp_pk: int, customer_ids: set[int]) -> None:
    """Make the WeCom-side assignments of these customers match their friendships' corp tags."""
    if not customer_ids:
        return
    links = dict(
        session.execute(
            sa.select(WecomTagLink.wecom_tag_id, WecomTagLink.tag_id).where(
                WecomTagLink.corp_id == corp_pk, WecomTagLink.deleted.is_(False)
            )
        ).all()
    )
    if not links:
        return
    ids = list(customer_ids)
    want: set[tuple[int, int]] = set()
    for cid, tags in session.execute(
        sa.select(WecomContact.customer_id, WecomContact.wecom_tags).where(
            WecomContact.customer_id.in_(ids), WecomContact.deleted_at.is_(None)
        )
    ):
        if cid is not None:
            want.update((int(cid), links[t]) for t in tags or [] if t in links)
    have = {
        (c, t): actor
        for c, t, actor in session.execute(
            sa.select(CustomerTag.customer_id, CustomerTag.tag_id, CustomerTag.actor).where(
                CustomerTag.customer_id.in_(ids),
                CustomerTag.source == MIRROR_SOURCE,
                CustomerTag.tag_id.in_(set(links.values())),
            )
        )
    }
    now = clock.now()
    session.add_all(
        CustomerTag(
            customer_id=c,
            tag_id=t,
            source=MIRROR_SOURCE,
            rule_id=0,
            actor=MIRROR_ACTOR,
            assigned_at=now,
        )
        for c, t in want - set(have)
    )
    stale = [
        (c, t) for (c, t), actor in have.items() if actor == MIRROR_ACTOR and (c, t) not in want
    ]
    for c, t in stale:
        session.execute(
            sa.delete(CustomerTag).where(
                CustomerTag.customer_id == c,
                CustomerTag.tag_id == t,
                CustomerTag.source == MIRROR_SOURCE,
                CustomerTag.actor == MIRROR_ACTOR,
            )
        )


# -- Siyu → WeCom ----------------------------------------------------------------------------------
def on_tag_changed(session: Session, data: dict[str, Any]) -> None:
    """Siyu's tagging (the ``tag.changed`` reaction): queue a push for each corp the tag is
    paired with. Told twice, it queues the same pushes twice, and WeCom marking a tag that is
    already marked (or unmarking one that is not) changes nothing: idempotent."""
    if data["actor"] == MIRROR_ACTOR or data["source"] == "rule":
        return
    tag_id, customer_ids, added = data["tag"], data["customers"], data["added"]
    corps = session.scalars(
        sa.select(WecomTagLink.corp_id).where(
            WecomTagLink.tag_id == tag_id, WecomTagLink.deleted.is_(False)
        )
    ).all()
    for corp_pk in corps:
        for start in range(0, len(customer_ids), PUSH_BATCH):
            enqueue(
                session,
                "wecom.tags.push",
                {
                    "corp": corp_pk,
                    "tag": tag_id,
                    "customers": customer_ids[start : start + PUSH_BATCH],
                    "add": added,
                },
            )


def push(
    session: Session,
    corp: WecomCorp,
    client: WecomClient,
    tag_id: int,
    customer_ids: list[int],
    add: bool,
) -> int:
    """Mark (or unmark) the paired corp tag on every live friendship of these customers;
    returns how many friendships changed. A friendship that ended meanwhile (84061) is skipped;
    a rate limit or WeCom being busy raises, and the job is retried."""
    link = session.scalar(
        sa.select(WecomTagLink).where(
            WecomTagLink.corp_id == corp.id,
            WecomTagLink.tag_id == tag_id,
            WecomTagLink.deleted.is_(False),
        )
    )
    if link is None:
        return 0
    contacts = session.scalars(
        sa.select(WecomContact).where(
            WecomContact.corp_id == corp.id,
            WecomContact.customer_id.in_(customer_ids),
            WecomContact.deleted_at.is_(None),
        )
    ).all()
    changed = 0
    for contact in contacts:
        tags = list(contact.wecom_tags or [])
        if (link.wecom_tag_id in tags) == add:
            continue
        body = {"userid": contact.staff_userid, "external_userid": contact.external_userid}
        body["add_tag" if add else "remove_tag"] = [link.wecom_tag_id]  # type: ignore[assignment]
        try:
            client.post("externalcontact/mark_tag", body)
        except WecomError as exc:
            if exc.transient:
                session.commit()  # keep what was done; the retried job skips it
                raise
            continue
        contact.wecom_tags = (
            [*tags, link.wecom_tag_id] if add else [t for t in tags if t != link.wecom_tag_id]
        )
        changed += 1
    mirror(session, corp.id, set(customer_ids))
    return changed


def pair(session: Session, corp: WecomCorp, client: WecomClient, tag: Tag) -> WecomTagLink:
    """Pair a Siyu tag with WeCom, creating the corp tag (in a group of the same name) if
    WeCom does not have it; then queue a push of everyone who holds it in Siyu."""
    link = session.scalar(
        sa.select(WecomTagLink).where(
            WecomTagLink.corp_id == corp.id, WecomTagLink.tag_id == tag.id
        )
    )
    if link is not None and not link.deleted:
        return link
    group = session.get(TagGroup, tag.group_id)
    assert group is not None
    if len(tag.name) > WECOM_NAME_MAX or len(group.name) > WECOM_NAME_MAX:
        raise TagSyncError(f"WeCom tag and group names are at most {WECOM_NAME_MAX} characters")
    sync_corp_tags(session, corp, client)
    link = session.scalar(
        sa.select(WecomTagLink).where(
            WecomTagLink.corp_id == corp.id, WecomTagLink.tag_id == tag.id
        )
    )
    if link is None or link.deleted:
        data = client.post(
            "externalcontact/add_corp_tag", {"group_name": group.name, "tag": [{"name": tag.name}]}
        )
        created = data.get("tag_group") or {}
        wtag = next((t for t in created.get("tag") or [] if t.get("name") == tag.name), None)
        if wtag is None:
            raise TagSyncError("WeCom did not return the new tag")
        if link is None:
            link = WecomTagLink(corp_id=corp.id, tag_id=tag.id)
            session.add(link)
        link.wecom_tag_id, link.wecom_group_id = str(wtag["id"]), str(created.get("group_id", ""))
        link.deleted, link.synced_at = False, clock.now()
        session.flush()
    holders = list(
        session.scalars(
            sa.select(CustomerTag.customer_id)
            .where(CustomerTag.tag_id == tag.id, CustomerTag.source != "rule")
            .distinct()
        )
    )
    if holders:
        pushed = {"tag": tag.id, "customers": holders, "added": True, "source": "manual"}
        on_tag_changed(session, {**pushed, "actor": "wecom:pair"})
    return link
