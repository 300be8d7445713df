"""Friendships between staff and customers, as full syncs and callbacks report them.

Every external contact becomes (or joins) a Siyu customer through identity resolution
(DESIGN §4): the corp's external_userid, the WeChat unionid when WeCom gives it, and phone numbers
a guide wrote into the remark. A customer added by several staff members is one customer with
several friendships (the de-duplication across the staff matrix that seed 002 asks for).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.customers.changes import touch_customers
from siyu.customers.resolution import Key, Resolver
from siyu.ingest.values import gender
from siyu.wecom.connection.models import WecomCorp, WecomStaff
from siyu.wecom.contacts.models import WecomContact
from siyu.wecom.tagsync.service import mirror

SOURCE = "wecom"


@dataclass
class ContactFacts:
    """One follow relation as WeCom describes it (externalcontact/get or batch/get_by_user)."""

    staff_userid: str
    external_userid: str
    name: str | None = None
    unionid: str | None = None
    gender: int | None = None
    remark: str | None = None
    remark_mobiles: list[str] = field(default_factory=list)
    add_way: int | None = None
    state: str | None = None
    tag_ids: list[str] = field(default_factory=list)
    createtime: int | None = None

    @classmethod
    def from_api(cls, contact: dict[str, Any], follow: dict[str, Any]) -> ContactFacts:
        tags = follow.get("tag_id")
        if tags is None:  # externalcontact/get lists tag objects rather than ids
            tags = [t.get("tag_id") for t in follow.get("tags") or [] if t.get("tag_id")]
        return cls(
            staff_userid=str(follow.get("userid", "")),
            external_userid=str(contact.get("external_userid", "")),
            name=contact.get("name") or None,
            unionid=contact.get("unionid") or None,
            gender=contact.get("gender"),
            remark=follow.get("remark") or None,
            remark_mobiles=[str(m) for m in follow.get("remark_mobiles") or []],
            add_way=follow.get("add_way"),
            state=follow.get("state") or None,
            tag_ids=[str(t) for t in tags],
            createtime=follow.get("createtime"),
        )

    def keys(self, corp_id: str) -> list[Key]:
        keys: list[Key] = [(ids.Kind.external_userid.value, corp_id, self.external_userid)]
        if self.unionid:
            with contextlib.suppress(ids.Rejected):
                keys.append(
                    (ids.Kind.unionid.value, "wechat", ids.normalise("unionid", self.unionid))
                )
        for raw in self.remark_mobiles:
            try:
                keys.append((ids.Kind.phone.value, "", ids.normalise("phone", raw)))
            except ids.Rejected:
                continue  # a guide's typo must not become an identity
        return keys


def store_contacts(session: Session, corp: WecomCorp, facts: list[ContactFacts]) -> dict[str, int]:
    """Resolve each contact to a customer and upsert its friendship; returns the customer id
    per external_userid. Counts of what changed are left to the caller."""
    if not facts:
        return {}
    conn = session.connection()
    resolver = Resolver(
        conn, SOURCE, get_settings().secret_key_bytes(), actor=f"wecom:{corp.corp_id}"
    )
    stores = dict(
        session.execute(
            sa.select(WecomStaff.userid, WecomStaff.store_id).where(WecomStaff.corp_id == corp.id)
        ).all()
    )
    keys = [f.keys(corp.corp_id) for f in facts]
    resolver.prefetch(k for ks in keys for k in ks)
    customer_of: dict[str, int] = {}
    for fact, fact_keys in zip(facts, keys, strict=True):
        seen = datetime.fromtimestamp(fact.createtime, UTC) if fact.createtime else clock.now()
        profile = {
            "name": fact.name,
            "gender": gender(str(fact.gender)) if fact.gender else None,
            "source": SOURCE,
            "store_id": stores.get(fact.staff_userid),
        }
        res = resolver.resolve(fact_keys, profile, seen)
        customer_of[fact.external_userid] = res.customer_id
    resolver.flush()
    customer_of = {e: resolver.customer_for(c) for e, c in customer_of.items()}
    existing = {
        (c.staff_userid, c.external_userid): c
        for c in session.scalars(
            sa.select(WecomContact).where(
                WecomContact.corp_id == corp.id,
                WecomContact.external_userid.in_({f.external_userid for f in facts}),
            )
        )
    }
    now = clock.now()
    for fact in facts:
        row = existing.get((fact.staff_userid, fact.external_userid))
        if row is None:
            row = WecomContact(
                corp_id=corp.id,
                staff_userid=fact.staff_userid,
                external_userid=fact.external_userid,
            )
            session.add(row)
            existing[(fact.staff_userid, fact.external_userid)] = row
        row.customer_id = customer_of[fact.external_userid]
        row.nickname = fact.name
        row.remark = fact.remark
        row.add_way = fact.add_way
        row.state = fact.state
        row.wecom_tags = fact.tag_ids
        if fact.createtime:
            row.added_at = datetime.fromtimestamp(fact.createtime, UTC)
        row.deleted_by = row.deleted_at = None
        row.seen_at = now
    session.flush()
    touch_customers(session, set(customer_of.values()))
    mirror(session, corp.id, set(customer_of.values()))  # corp tags → Siyu tags
    return customer_of


def mark_deleted(
    session: Session, corp: WecomCorp, staff_userid: str, external_userid: str, by: str
) -> WecomContact | None:
    """The friendship ended: ``by`` is customer (they deleted the guide), staff or transfer."""
    row = session.scalar(
        sa.select(WecomContact).where(
            WecomContact.corp_id == corp.id,
            WecomContact.staff_userid == staff_userid,
            WecomContact.external_userid == external_userid,
        )
    )
    if row is None or row.deleted_at is not None:
        return row
    row.deleted_by, row.deleted_at = by, clock.now()
    if row.customer_id:
        touch_customers(session, {row.customer_id})
    return row
