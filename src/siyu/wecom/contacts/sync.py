"""Full sync from WeCom: departments, staff, every friendship, customer groups and their members.

Paged and rate-limited through the client; each page is committed with the run's position, so
a sync stopped by a WeCom error (45009, a network failure, a crash) resumes at the page where it
stopped. A failure is written on the run and shown by `siyu wecom status` and the console —
never swallowed. At the end, friendships and groups the sync did not see are marked ended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Resolver
from siyu.db import rowcount
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.connection.models import WecomCorp, WecomDepartment, WecomStaff
from siyu.wecom.connection.service import record_calls
from siyu.wecom.contacts.models import WecomContact, WecomGroupChat, WecomGroupMember, WecomSyncRun
from siyu.wecom.contacts.service import SOURCE, ContactFacts, store_contacts

PHASES = ("departments", "staff", "tags", "contacts", "groups", "finish")
Progress = Callable[[str, dict[str, Any]], None]


class SyncPaused(Exception):
    """The sync stopped on a transient WeCom error; its run keeps the position to resume from.
    ``retry_at`` (monotonic clock) is when to try again, if WeCom said (45009)."""

    def __init__(self, run_id: int, error: WecomError, retry_at: float | None) -> None:
        super().__init__(str(error))
        self.run_id, self.error, self.retry_at = run_id, error, retry_at


def current_run(session: Session, corp: WecomCorp) -> WecomSyncRun | None:
    return session.scalar(
        sa.select(WecomSyncRun)
        .where(WecomSyncRun.corp_id == corp.id, WecomSyncRun.status == "running")
        .order_by(WecomSyncRun.id.desc())
    )


def sync(
    session: Session, corp: WecomCorp, client: WecomClient, progress: Progress | None = None
) -> WecomSyncRun:
    """Run (or resume) a full sync to the end. Raises SyncPaused on a transient error (the run
    stays open) and WecomError on a permanent one (the run is marked failed)."""
    run = current_run(session, corp)
    if run is None:
        run = WecomSyncRun(corp_id=corp.id, position={"phase": PHASES[0]}, counts={})
        session.add(run)
        session.commit()
    step = _Steps(session, corp, client, run, progress or (lambda _p, _c: None))
    try:
        while run.position.get("phase") != "done":
            phase = run.position["phase"]
            getattr(step, phase)()
            step.advance(PHASES[PHASES.index(phase) + 1] if phase != "finish" else "done")
    except WecomError as exc:
        session.rollback()
        record_calls(session, corp, client)
        run = session.get(WecomSyncRun, run.id) or run
        run.error = str(exc)[:2000]
        if exc.transient:
            session.commit()
            raise SyncPaused(run.id, exc, getattr(exc, "retry_at", None)) from exc
        run.status, run.finished_at = "failed", clock.now()
        session.commit()
        raise
    run.status, run.finished_at, run.error = "done", clock.now(), None
    record_calls(session, corp, client)
    session.commit()
    return run


class _Steps:
    def __init__(
        self,
        session: Session,
        corp: WecomCorp,
        client: WecomClient,
        run: WecomSyncRun,
        progress: Progress,
    ) -> None:
        self.session, self.corp, self.client, self.run, self.progress = (
            session,
            corp,
            client,
            run,
            progress,
        )

    # -- bookkeeping ---------------------------------------------------------------------------
    def save(self, **position: Any) -> None:
        """Commit this page's rows together with where the next page starts."""
        self.run.position = {**self.run.position, **position}
        record_calls(self.session, self.corp, self.client)
        self.session.commit()
        self.progress(self.run.position["phase"], dict(self.run.counts))

    def count(self, name: str, n: int) -> None:
        self.run.counts = {**self.run.counts, name: int(self.run.counts.get(name, 0)) + n}

    def advance(self, phase: str) -> None:
        self.save(phase=phase, chunk=0, cursor="", index=0)

    # -- phases --------------------------------------------------------------------------------
    def departments(self) -> None:
        data = self.client.get("department/list")
        have = {
            d.dept_id: d
            for d in self.session.scalars(
                sa.select(WecomDepartment).where(WecomDepartment.corp_id == self.corp.id)
            )
        }
        for d in data.get("department") or []:
            row = have.get(int(d["id"])) or WecomDepartment(
                corp_id=self.corp.id, dept_id=int(d["id"])
            )
            row.name, row.parent_dept_id, row.synced_at = (
                str(d.get("name", "")),
                int(d.get("parentid") or 0),
                clock.now(),
            )
            self.session.add(row)
        self.count("departments", len(data.get("department") or []))

    def staff(self) -> None:
        users = self.client.get("user/list", department_id=1, fetch_child=1).get("userlist") or []
        follow = set(
            self.client.get("externalcontact/get_follow_user_list").get("follow_user") or []
        )
        have = {
            s.userid: s
            for s in self.session.scalars(
                sa.select(WecomStaff).where(WecomStaff.corp_id == self.corp.id)
            )
        }
        listed = set()
        for u in users:
            row = have.get(u["userid"]) or WecomStaff(corp_id=self.corp.id, userid=u["userid"])
            row.name = str(u.get("name", ""))[:100]
            row.departments = [int(x) for x in u.get("department") or []]
            row.status = int(u.get("status") or 1)
            row.has_contact_rights = row.userid in follow
            row.synced_at = clock.now()
            self.session.add(row)
            listed.add(row.userid)
        for userid, row in have.items():
            if userid not in listed:  # gone from the address book: left the company
                row.status = 5
        self.count("staff", len(users))

    def tags(self) -> None:
        """Corp tags first, so each friendship's tags land on paired Siyu tags."""
        from siyu.wecom.tagsync.service import sync_corp_tags

        self.count("corp_tags", sync_corp_tags(self.session, self.corp, self.client)["corp_tags"])

    def contacts(self) -> None:
        staff = sorted(
            self.session.scalars(
                sa.select(WecomStaff.userid).where(
                    WecomStaff.corp_id == self.corp.id, WecomStaff.has_contact_rights.is_(True)
                )
            )
        )
        groups = list(chunks(staff, 100))
        for index in range(int(self.run.position.get("chunk", 0)), len(groups)):
            cursor = str(self.run.position.get("cursor", ""))
            while True:
                page = self.client.post(
                    "externalcontact/batch/get_by_user",
                    {"userid_list": list(groups[index]), "cursor": cursor, "limit": 100},
                )
                facts = [
                    ContactFacts.from_api(
                        item.get("external_contact") or {}, item.get("follow_info") or {}
                    )
                    for item in page.get("external_contact_list") or []
                ]
                store_contacts(self.session, self.corp, facts)
                self.count("contacts", len(facts))
                cursor = str(page.get("next_cursor") or "")
                if not cursor:
                    self.save(chunk=index + 1, cursor="")
                    break
                self.save(chunk=index, cursor=cursor)

    def groups(self) -> None:
        while True:
            cursor = str(self.run.position.get("cursor", ""))
            page = self.client.post(
                "externalcontact/groupchat/list", {"cursor": cursor, "limit": 100}
            )
            for chat in page.get("group_chat_list") or []:
                detail = self.client.post(
                    "externalcontact/groupchat/get", {"chat_id": chat["chat_id"], "need_name": 1}
                )
                store_group(self.session, self.corp, detail.get("group_chat") or {})
                self.count("groups", 1)
                self.session.commit()  # no write lock held across the next call to WeCom
            cursor = str(page.get("next_cursor") or "")
            self.save(cursor=cursor)
            if not cursor:
                break

    def finish(self) -> None:
        """What the sync did not see has ended (deleted while callbacks were missed)."""
        started = self.run.started_at
        ended = rowcount(
            self.session.execute(
                sa.update(WecomContact)
                .where(
                    WecomContact.corp_id == self.corp.id,
                    WecomContact.deleted_at.is_(None),
                    WecomContact.seen_at < started,
                )
                .values(deleted_by="sync", deleted_at=clock.now())
            )
        )
        self.session.execute(
            sa.update(WecomGroupChat)
            .where(WecomGroupChat.corp_id == self.corp.id, WecomGroupChat.seen_at < started)
            .values(dismissed=True)
        )
        self.count("contacts_ended", int(ended or 0))


def store_group(session: Session, corp: WecomCorp, chat: dict[str, Any]) -> WecomGroupChat:
    """Upsert a customer group and its members (external members resolved to customers)."""
    group = session.scalar(
        sa.select(WecomGroupChat).where(
            WecomGroupChat.corp_id == corp.id, WecomGroupChat.chat_id == chat["chat_id"]
        )
    ) or WecomGroupChat(corp_id=corp.id, chat_id=chat["chat_id"])
    members = chat.get("member_list") or []
    group.name = str(chat.get("name") or "")[:200]
    group.owner_userid = str(chat.get("owner") or "")
    group.member_count = len(members)
    group.dismissed = False
    group.seen_at = clock.now()
    if chat.get("create_time"):
        group.created_at = datetime.fromtimestamp(int(chat["create_time"]), UTC)
    session.add(group)
    session.flush()
    resolver = Resolver(session.connection(), SOURCE, get_settings().secret_key_bytes())
    customer_of: dict[str, int] = {}
    for m in members:
        if int(m.get("type") or 0) != 2:
            continue
        keys = [(ids.Kind.external_userid.value, corp.corp_id, str(m["userid"]))]
        if m.get("unionid"):
            keys.append((ids.Kind.unionid.value, "wechat", str(m["unionid"])))
        resolver.prefetch(keys)
        customer_of[str(m["userid"])] = resolver.resolve(
            keys, {"name": m.get("name"), "source": SOURCE}
        ).customer_id
    resolver.flush()
    session.execute(sa.delete(WecomGroupMember).where(WecomGroupMember.group_id == group.id))
    if members:
        session.execute(
            sa.insert(WecomGroupMember),
            [
                {
                    "group_id": group.id,
                    "member_id": str(m["userid"]),
                    "member_type": int(m.get("type") or 0),
                    "customer_id": resolver.customer_for(customer_of[str(m["userid"])])
                    if str(m["userid"]) in customer_of
                    else None,
                    "joined_at": datetime.fromtimestamp(int(m["join_time"]), UTC)
                    if m.get("join_time")
                    else None,
                    "join_scene": m.get("join_scene"),
                }
                for m in members
            ],
        )
    return group
