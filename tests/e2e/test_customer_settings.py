"""Do-not-disturb, consent, merges, identity conflicts and PIPL requests over the API and from the
customer page: permission, CSRF and scope on every write, refusals said in words, hostile input
stored harmlessly or refused, personal pages not cached."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from siyu.accounts.models import AuditLog
from siyu.customers.models import Consent, Customer, MergeLog
from tests.e2e.conftest import login, make_user
from tests.e2e.test_console import customer_ids, seed

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _setup(
    client: TestClient, engine: Any, settings: Any, session: Any, tmp_path: Any
) -> dict[str, int]:
    seed(engine, settings, tmp_path)  # M1 bought in store S1, M2 in S2
    make_user("op", "operator")
    make_user("boss", "admin")
    make_user("an", "analyst")
    make_user("g1", "store_guide", "S1")
    return customer_ids(session)


def _as(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    return {"X-CSRF-Token": login(client, username)}


def test_do_not_disturb_and_consent_over_the_api(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(client, engine, settings, session, tmp_path)
    m1, m2 = ids["M1"], ids["M2"]
    h = _as(client, "g1")  # a guide, for their own store's customer
    r = client.put(
        f"/api/v1/customers/{m1}/do-not-disturb", json={"on": True, "reason": SCRIPT}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["do_not_disturb"] and r.json()["source"] == "operator" and r.json()["changed"]
    again = client.put(
        f"/api/v1/customers/{m1}/do-not-disturb", json={"on": True, "reason": "again"}, headers=h
    )
    assert again.json()["changed"] is False
    other = client.put(
        f"/api/v1/customers/{m2}/do-not-disturb", json={"on": True, "reason": "x"}, headers=h
    )
    assert other.status_code == 404  # another store's customer reads as a missing one
    assert not session.get(Customer, m2).do_not_disturb
    denied = session.scalar(
        sa.select(AuditLog).where(
            AuditLog.action == "customer.denied", AuditLog.target_id == str(m2)
        )
    )
    assert denied is not None  # the refused look-up is on record
    missing = client.put(
        "/api/v1/customers/999999/do-not-disturb", json={"on": True, "reason": "x"}, headers=h
    )
    assert missing.status_code == 404
    assert (
        client.put(
            f"/api/v1/customers/{m1}/do-not-disturb", json={"on": False}, headers=h
        ).status_code
        == 422
    )  # a reason is required
    no_csrf = client.put(
        f"/api/v1/customers/{m1}/do-not-disturb", json={"on": False, "reason": "x"}
    )
    assert no_csrf.status_code == 403
    grant = client.post(
        f"/api/v1/customers/{m1}/consents",
        json={"action": "grant", "channel": "sms", "note": SCRIPT, "reference": "SQ-1"},
        headers=h,
    )
    assert grant.status_code == 200, grant.text
    assert grant.json()["status"] == "granted" and grant.json()["recorded_by"] == "user:g1"
    no_evidence = client.post(
        f"/api/v1/customers/{m1}/consents",
        json={"action": "withdraw", "channel": "sms"},
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert no_evidence.status_code == 200 and no_evidence.json()["status"] == "withdrawn"
    refused = client.post(
        f"/api/v1/customers/{m1}/consents",
        json={"action": "grant", "channel": "sms", "note": "again"},
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert refused.status_code == 409 and "撤回" in refused.json()["detail"]
    huge = client.post(
        f"/api/v1/customers/{m1}/consents",
        json={"action": "grant", "channel": "sms", "note": "长" * 100_000},
        headers=h,
    )
    assert huge.status_code in (413, 422)
    h = _as(client, "an")
    assert (
        client.put(
            f"/api/v1/customers/{m1}/do-not-disturb", json={"on": False, "reason": "x"}, headers=h
        ).status_code
        == 403
    )
    session.expire_all()
    stored = session.scalar(sa.select(Consent).where(Consent.customer_id == m1))
    assert stored is not None and stored.status == "withdrawn"


def test_identity_conflicts_and_merges_over_the_api(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.test_identity_review import _conflict

    make_user("op", "operator")
    a, b = _conflict(engine, settings, tmp_path)
    h = _as(client, "op")
    listed = client.get("/api/v1/identity-conflicts", headers=h).json()
    assert listed["total"] == 1 and "13811110001" not in str(listed)
    conflict = listed["items"][0]["id"]
    self_merge = client.post(
        "/api/v1/customers/merge", json={"winner_id": a, "loser_id": a}, headers=h
    )
    assert self_merge.status_code == 409 and "itself" in self_merge.json()["detail"]
    merged = client.post(
        f"/api/v1/identity-conflicts/{conflict}/merge", json={"keep": a}, headers=h
    )
    assert merged.status_code == 200, merged.text
    assert client.get("/api/v1/identity-conflicts", headers=h).json()["total"] == 0
    into_merged = client.post(
        "/api/v1/customers/merge", json={"winner_id": b, "loser_id": a, "force": True}, headers=h
    )
    assert into_merged.status_code == 409  # b is folded into a
    undo = f"/api/v1/customers/unmerge/{merged.json()['merge_id']}"
    assert client.post(undo, headers=h).status_code == 200
    twice = client.post(undo, headers=h)
    assert twice.status_code == 409 and "already undone" in twice.json()["detail"]
    assert (
        client.post("/api/v1/identity-conflicts/999999/keep-apart", json={}, headers=h).status_code
        == 404
    )
    gone = client.post(f"/api/v1/identity-conflicts/{conflict}/keep-apart", json={}, headers=h)
    assert gone.status_code == 409  # settled by the merge


def test_privacy_by_customer_id_over_the_api(client, engine, settings, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(client, engine, settings, session, tmp_path)
    h = _as(client, "op")
    body = {"customer_id": ids["M1"]}
    assert client.post("/api/v1/privacy/export", json=body, headers=h).status_code == 403
    assert client.post("/api/v1/privacy/erase", json=body, headers=h).status_code == 403
    h = _as(client, "boss")
    both = client.post("/api/v1/privacy/export", json={**body, "phone": "13812340001"}, headers=h)
    assert both.status_code == 422
    exported = client.post("/api/v1/privacy/export", json=body, headers=h)
    assert exported.status_code == 200 and "+8613812340001" in str(exported.json())
    erased = client.post("/api/v1/privacy/erase", json=body, headers=h)
    assert erased.status_code == 200 and erased.json()["erased_profiles"] == 1
    assert client.post("/api/v1/privacy/erase", json=body, headers=h).status_code == 404


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


def test_the_customer_page_records_do_not_disturb_and_consent(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(client, engine, settings, session, tmp_path)
    m1, m2 = ids["M1"], ids["M2"]
    csrf = _as(client, "g1")["X-CSRF-Token"]
    page = client.get(f"/customers/{m1}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'data-testid="dnd-form"' in page.text and "privacy/erase" not in page.text
    no_token = client.post(f"/customers/{m1}/do-not-disturb", data={"on": "1", "reason": "x"})
    assert no_token.status_code == 403
    assert not session.get(Customer, m1).do_not_disturb
    done = client.post(
        f"/customers/{m1}/do-not-disturb", data={"csrf": csrf, "on": "1", "reason": SCRIPT}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("done=dnd_on")
    shown = client.post(f"/customers/{m1}", data={"csrf": csrf, "unmask": "1"})
    assert "&lt;script&gt;" in shown.text and SCRIPT not in shown.text
    phone_identity = re.search(r'<option value="(\d+)">短信', shown.text)
    assert phone_identity
    refused = client.post(
        f"/customers/{m1}/consents",
        data={"csrf": csrf, "action": "grant", "identity_id": phone_identity.group(1)},
    )
    assert refused.status_code == 409 and "记录同意需要凭证" in refused.text
    too_long = client.post(
        f"/customers/{m1}/consents",
        data={
            "csrf": csrf,
            "action": "grant",
            "identity_id": phone_identity.group(1),
            "note": "长" * 501,
        },
    )
    assert too_long.status_code == 409 and "凭证说明最多 500 个字符" in too_long.text
    garbage = client.post(
        f"/customers/{m1}/consents",
        data={"csrf": csrf, "action": "grant", "identity_id": "9" * 30, "note": "n"},
    )
    assert garbage.status_code == 409 and "手机号或邮箱" in garbage.text
    assert client.get("/customers/" + "9" * 20).status_code == 422  # not an id: refused early
    not_theirs = client.post(
        f"/customers/{m1}/consents",
        data={"csrf": csrf, "action": "grant", "identity_id": "1", "note": "n"},
    )
    assert not_theirs.status_code == 409 and "没有编号为 1 的手机号或邮箱" in not_theirs.text
    granted = client.post(
        f"/customers/{m1}/consents",
        data={
            "csrf": csrf,
            "action": "grant",
            "identity_id": phone_identity.group(1),
            "note": SCRIPT,
            "reference": "SQ-9",
            "given_at": "2026-07-01T10:00",
        },
    )
    assert granted.status_code == 303, granted.text
    row = session.scalar(sa.select(Consent).where(Consent.customer_id == m1))
    assert row is not None and row.evidence == SCRIPT and row.recorded_at.hour == 2  # 10:00 Beijing
    shown = client.post(f"/customers/{m1}", data={"csrf": csrf, "unmask": "1"})
    assert "SQ-9" in shown.text and SCRIPT not in shown.text
    withdraw = client.post(
        f"/customers/{m1}/consents",
        data={"csrf": csrf, "action": "withdraw", "consent_id": str(row.id)},
    )
    assert withdraw.status_code == 303
    session.expire_all()
    assert session.get(Consent, row.id).status == "withdrawn"
    theirs = client.post(
        f"/customers/{m2}/do-not-disturb", data={"csrf": csrf, "on": "1", "reason": "x"}
    )
    assert theirs.status_code == 404  # another store's customer reads as a missing one
    stranger = client.post(
        f"/customers/{m1}/consents",
        data={"csrf": csrf, "action": "withdraw", "consent_id": "999999"},
    )
    assert stranger.status_code == 409 and "没有编号为 999999 的授权记录" in stranger.text
    csrf = _as(client, "an")["X-CSRF-Token"]
    assert (
        client.post(
            f"/customers/{m1}/do-not-disturb", data={"csrf": csrf, "on": "0", "reason": "x"}
        ).status_code
        == 403
    )


def test_merge_and_unmerge_from_the_customer_page(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(client, engine, settings, session, tmp_path)
    m1, m2 = ids["M1"], ids["M2"]
    csrf = _as(client, "op")["X-CSRF-Token"]
    search = client.get(f"/customers/{m1}/merge", params={"other": "13812340002"})
    assert search.status_code == 200 and f"other={m2}" in search.text
    assert "13812340002" not in search.text.replace('value="13812340002"', "")
    preview = client.get(f"/customers/{m1}/merge", params={"other": str(m2)})
    assert preview.status_code == 200 and preview.headers["cache-control"] == "no-store"
    assert 'data-testid="merge-clash"' in preview.text  # different phones and member numbers
    itself = client.get(f"/customers/{m1}/merge", params={"other": str(m1)})
    assert itself.status_code == 409 and "不能把客户合并到他自己" in itself.text
    missing = client.get(f"/customers/{m1}/merge", params={"other": "999999"})
    assert missing.status_code == 409 and "没有编号为 999999 的客户" in missing.text
    unforced = client.post(f"/customers/{m1}/merge", data={"csrf": csrf, "other": str(m2)})
    assert unforced.status_code == 409 and session.get(Customer, m2).status == "active"
    no_token = client.post(f"/customers/{m1}/merge", data={"other": str(m2), "force": "1"})
    assert no_token.status_code == 403
    merged = client.post(
        f"/customers/{m1}/merge", data={"csrf": csrf, "other": str(m2), "force": "1"}
    )
    assert merged.status_code == 303
    session.expire_all()
    assert session.get(Customer, m2).status == "merged"
    log = session.scalar(sa.select(MergeLog))
    assert log is not None
    page = client.get(f"/customers/{m1}?done=merged")
    assert f'data-testid="unmerge-{log.id}"' in page.text and "已合并" in page.text
    undo = client.post(f"/customers/{m1}/unmerge/{log.id}", data={"csrf": csrf})
    assert undo.status_code == 303
    twice = client.post(f"/customers/{m1}/unmerge/{log.id}", data={"csrf": csrf})
    assert twice.status_code == 409 and "已经撤销过了" in twice.text
    session.expire_all()
    assert session.get(Customer, m2).status == "active"


def test_export_and_erase_from_the_customer_page(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(client, engine, settings, session, tmp_path)
    m1 = ids["M1"]
    csrf = _as(client, "op")["X-CSRF-Token"]
    assert "privacy/export" not in client.get(f"/customers/{m1}").text
    assert client.post(f"/customers/{m1}/privacy/export", data={"csrf": csrf}).status_code == 403
    assert (
        client.post(
            f"/customers/{m1}/privacy/erase", data={"csrf": csrf, "confirm": "删除"}
        ).status_code
        == 403
    )
    csrf = _as(client, "boss")["X-CSRF-Token"]
    no_token = client.post(f"/customers/{m1}/privacy/export")
    assert no_token.status_code == 403
    exported = client.post(f"/customers/{m1}/privacy/export", data={"csrf": csrf})
    assert exported.status_code == 200 and exported.headers["cache-control"] == "no-store"
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["customer_id"] == m1 and "+8613812340001" in exported.text
    assert session.scalar(
        sa.select(AuditLog).where(
            AuditLog.action == "privacy.export", AuditLog.target_id == str(m1)
        )
    )
    wrong = client.post(
        f"/customers/{m1}/privacy/erase", data={"csrf": csrf, "confirm": "13800000000"}
    )
    assert wrong.status_code == 400 and 'data-testid="erase-refused"' in wrong.text
    assert session.get(Customer, m1) is not None
    erased = client.post(
        f"/customers/{m1}/privacy/erase", data={"csrf": csrf, "confirm": "138 1234 0001"}
    )
    assert erased.status_code == 200 and 'data-testid="erasure-report"' in erased.text
    assert "尚无分析副本" in erased.text  # the report says what was done to the copy (none yet)
    session.expire_all()
    assert session.get(Customer, m1) is None
    assert session.scalar(sa.select(AuditLog).where(AuditLog.action == "privacy.erase"))
    again = client.post(f"/customers/{m1}/privacy/erase", data={"csrf": csrf, "confirm": "删除"})
    assert again.status_code == 404


def test_the_identity_conflicts_page(client, engine, settings, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.test_identity_review import _conflict

    make_user("op", "operator")
    make_user("g1", "store_guide", "S1")
    a, b = _conflict(engine, settings, tmp_path)
    csrf = _as(client, "g1")["X-CSRF-Token"]
    assert client.get("/identity-conflicts").status_code == 403
    csrf = _as(client, "op")["X-CSRF-Token"]
    page = client.get("/identity-conflicts")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "138****0001" in page.text and "13811110001" not in page.text
    unmasked = client.post("/identity-conflicts", data={"csrf": csrf, "unmask": "1"})
    assert "+8613811110001" in unmasked.text
    forged = client.post("/identity-conflicts", data={"unmask": "1"})
    assert "+8613811110001" not in forged.text  # no token, no unmasking
    conflict = int(re.search(r'data-testid="conflict-(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    no_token = client.post(f"/identity-conflicts/{conflict}/keep-apart", data={"reason": "x"})
    assert no_token.status_code == 403
    kept = client.post(
        f"/identity-conflicts/{conflict}/keep-apart", data={"csrf": csrf, "reason": SCRIPT}
    )
    assert kept.status_code == 303
    after = client.get("/identity-conflicts?done=kept_apart")
    assert 'data-testid="conflicts-empty"' in after.text and "已记录为两位不同的客户" in after.text
    twice = client.post(f"/identity-conflicts/{conflict}/keep-apart", data={"csrf": csrf})
    assert twice.status_code == 409 and "已经处理过了" in twice.text
    assert session.get(Customer, a).status == session.get(Customer, b).status == "active"
