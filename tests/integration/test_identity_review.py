"""Identity conflicts reviewed by an operator: listed once per pair with both profiles (masked
unless unmasked, audited), merged, or kept apart — after which the resolver neither raises the
pair again nor merges it by itself. Merges by hand are scoped, previewed and undone once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from siyu.accounts.models import AuditLog
from siyu.accounts.permissions import ROLE_PERMISSIONS, Role
from siyu.accounts.service import Principal
from siyu.customers.merging.service import keep_apart, list_conflicts, merge_conflict, merge_preview
from siyu.customers.models import Customer, IdentityConflict
from siyu.customers.service import CustomerError, NotVisible, merge_for, unmerge_for
from tests.integration.test_identity import active_count, customer_of, imp, orders_csv, row

OPERATOR = Principal("op", "operator", ROLE_PERMISSIONS[Role.operator])


def _conflict(engine: Any, settings: Any, tmp_path: Path, tag: str = "a") -> tuple[int, int]:
    """Members M1 and M2 with their own phones; then a record links M1 to M2's phone."""
    imp(
        engine,
        settings,
        orders_csv(
            tmp_path / f"{tag}1.csv",
            [
                row("1", member="M1", phone="13811110001"),
                row("2", member="M2", phone="13811110002"),
            ],
        ),
    )
    imp(
        engine,
        settings,
        orders_csv(tmp_path / f"{tag}2.csv", [row("3", member="M1", phone="13811110002")]),
    )
    return customer_of(engine, "1"), customer_of(engine, "2")


def test_a_conflict_is_recorded_once_per_pair_and_listed_masked(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    a, b = _conflict(engine, settings, tmp_path)
    s = imp(
        engine,
        settings,
        orders_csv(tmp_path / "again.csv", [row("4", member="M1", phone="13811110002")]),
    )
    assert s.conflicts == 1  # the record still hit the conflict …
    assert session.scalar(sa.select(sa.func.count()).select_from(IdentityConflict)) == 1  # … once
    page = list_conflicts(session, OPERATOR)
    assert page.total == 1 and not page.unmasked
    item = page.items[0]
    assert {item["a"]["id"], item["b"]["id"]} == {a, b}
    assert item["kind"] in ("phone", "member_id")  # they differ on both
    shown = str(item)
    assert "138****0001" in shown and "13811110001" not in shown
    unmasked = list_conflicts(session, OPERATOR, unmask=True)
    assert "+8613811110001" in str(unmasked.items[0])
    looks = session.scalars(
        sa.select(AuditLog.target_id).where(AuditLog.action == "customer.unmask")
    ).all()
    assert sorted(looks) == sorted([str(a), str(b)])
    nobody = Principal("g0", "store_guide", ROLE_PERMISSIONS[Role.store_guide])  # no store
    assert list_conflicts(session, nobody).total == 0  # sees no customers: no pairs either


def test_kept_apart_the_pair_is_neither_raised_nor_merged_again(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    a, b = _conflict(engine, settings, tmp_path)
    conflict = session.scalar(sa.select(IdentityConflict.id))
    assert keep_apart(session, OPERATOR, conflict, "两位不同的会员，同一家人") == 1
    session.commit()
    assert list_conflicts(session, OPERATOR).total == 0
    s = imp(
        engine,
        settings,
        orders_csv(tmp_path / "b.csv", [row("5", member="M1", phone="13811110002")]),
    )
    assert s.conflicts == 0 and s.merges == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(IdentityConflict)) == 1
    assert active_count(engine) == 2
    with pytest.raises(CustomerError, match="already settled"):
        keep_apart(session, OPERATOR, conflict)
    with pytest.raises(CustomerError, match="already settled"):
        merge_conflict(session, OPERATOR, conflict)
    entry = session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "identity_conflict.keep_apart")
    )
    assert entry is not None and entry.details["other"] in (a, b)


def test_a_conflict_merged_by_the_operator_leaves_the_list_and_can_be_undone(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    _a, b = _conflict(engine, settings, tmp_path)
    conflict = session.scalar(sa.select(IdentityConflict))
    assert conflict is not None
    with pytest.raises(CustomerError, match="keep one of the two"):
        merge_conflict(session, OPERATOR, conflict.id, keep=999999)
    merge_id = merge_conflict(session, OPERATOR, conflict.id, keep=b)
    session.commit()
    assert customer_of(engine, "1") == b and active_count(engine) == 1
    session.expire_all()
    assert session.get(IdentityConflict, conflict.id).resolution == "merged"
    assert list_conflicts(session, OPERATOR).total == 0
    unmerge_for(session, OPERATOR, merge_id)
    session.commit()
    with pytest.raises(CustomerError, match="already undone"):
        unmerge_for(session, OPERATOR, merge_id)
    assert active_count(engine) == 2


def test_manual_merges_are_previewed_and_refused_where_wrong(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    a, b = _conflict(engine, settings, tmp_path)
    preview = merge_preview(session, OPERATOR, a, b)
    assert preview["clash"] in ("phone", "member_id") and preview["moves"]["orders"] == 1
    assert preview["moves"]["identities"] == 2  # member number and phone
    assert "13811110002" not in str(preview)
    with pytest.raises(CustomerError, match="into itself"):
        merge_preview(session, OPERATOR, a, a)
    with pytest.raises(CustomerError, match="into itself"):
        merge_for(session, OPERATOR, a, a)
    with pytest.raises(CustomerError, match="no customer 999999"):
        merge_for(session, OPERATOR, a, 999999)
    merge_for(session, OPERATOR, a, b, force=True)
    session.commit()
    with pytest.raises(CustomerError, match="is merged"):
        merge_for(session, OPERATOR, b, a)  # into a profile that is no longer there


def test_a_store_guide_cannot_reach_another_stores_customers(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    from siyu.brands.models import Brand, Store

    brand = Brand(code="gb", name="G")
    session.add(brand)
    session.flush()
    store = Store(brand_id=brand.id, code="g1", name="G1")
    session.add(store)
    session.commit()
    a, b = _conflict(engine, settings, tmp_path)
    session.get(Customer, a).store_id = store.id
    session.commit()
    # a guide's scope, even with every customer permission
    perms = ROLE_PERMISSIONS[Role.store_guide] | ROLE_PERMISSIONS[Role.operator]
    guide = Principal("guide", "store_guide", perms, store_id=store.id)
    assert list_conflicts(session, guide).total == 0  # b is not theirs
    with pytest.raises(NotVisible):
        merge_for(session, guide, a, b, force=True)
    conflict = session.scalar(sa.select(IdentityConflict.id))
    with pytest.raises(NotVisible):
        keep_apart(session, guide, conflict)
