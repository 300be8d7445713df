"""Identity resolution (DESIGN §4): which profile does a record belong to?

Deterministic: a record's identities are looked up exactly; no fuzzy matching. When a record's
identities point at several profiles they are merged only if no two of them hold *different*
values of the same kind and namespace (two phones of one kind may be two people); otherwise the
record goes to the profile found by the strongest identity and the pair is kept as a conflict for
an operator. Every merge is logged with what moved, so it can be undone.

The resolver works a batch at a time inside the caller's transaction, so an import of a million
rows costs a handful of queries per batch, not several per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siyu import clock
from siyu.bulk import allocate_ids, db_time, insert_rows, rows_where_in
from siyu.customers.changes import touch_customers
from siyu.customers.identifiers import PRIORITY, Kind
from siyu.customers.models import Consent, Customer, Identity, IdentityConflict, MergeLog
from siyu.customers.pairs import conflict_on_record, kept_apart_pairs
from siyu.db import UTCDateTime, plain_value, table_of
from siyu.privacy.digest import identity_digest
from siyu.privacy.models import Suppression

Key = tuple[str, str, str]  # (kind, namespace, value)

CUSTOMER = table_of(Customer)
IDENTITY = table_of(Identity)
PROFILE_FIELDS = ("name", "gender", "birthday", "province", "city", "store_id", "source")
_RANK = {k.value: i for i, k in enumerate(PRIORITY)}


def _rank(key: Key) -> int:
    return _RANK.get(key[0], 99)


@dataclass
class Resolution:
    customer_id: int
    identity_ids: dict[Key, int]
    created: bool
    suppressed: bool

    def primary_identity(self) -> int | None:
        """The identity that brought the record: the strongest one it carries."""
        ids = self.identity_ids
        if len(ids) <= 1:
            return next(iter(ids.values()), None)
        return ids[min(ids, key=_rank)]


@dataclass
class ResolverStats:
    customers_created: int = 0
    identities_created: int = 0
    merges: int = 0
    conflicts: int = 0
    suppressed: int = 0


class IdPool:
    """Primary keys handed out ahead of the insert (see ``bulk.allocate_ids``)."""

    def __init__(self, conn: Connection, table: sa.Table, block: int = 1000) -> None:
        self.conn, self.table, self.block = conn, table, block
        self._ids: list[int] = []
        self._next: int | None = None

    def take(self) -> int:
        if self.conn.dialect.name == "sqlite":
            if self._next is None:
                self._next = allocate_ids(self.conn, self.table, 1)[0]
            self._next += 1
            return self._next - 1
        if not self._ids:
            self._ids = allocate_ids(self.conn, self.table, self.block)[::-1]
        return self._ids.pop()

    def take_many(self, n: int) -> list[int]:
        if self.conn.dialect.name == "sqlite":
            if self._next is None:
                self._next = allocate_ids(self.conn, self.table, 1)[0]
            first, self._next = self._next, self._next + n
            return list(range(first, first + n))
        return [self.take() for _ in range(n)]


@dataclass
class _NewCustomer:
    id: int
    profile: dict[str, Any]
    first_seen_at: Any  # in database form (bulk.db_time), so imports need not convert
    suppressed: bool


@dataclass
class Resolver:
    """Resolve records to customers within one transaction; call ``flush`` before commit."""

    conn: Connection
    source: str
    secret: bytes
    actor: str = "system"
    stats: ResolverStats = field(default_factory=ResolverStats)

    def __post_init__(self) -> None:
        self._known: dict[Key, tuple[int, int]] = {}  # key -> (identity id, customer id)
        self._redirect: dict[int, int] = {}
        self._new_customers: dict[int, _NewCustomer] = {}
        self._new_identities: list[tuple[Any, ...]] = []
        self._customer_ids = IdPool(self.conn, CUSTOMER)
        self._identity_ids = IdPool(self.conn, IDENTITY)
        self._suppressed_keys: set[Key] = set()
        self._check_suppression = bool(
            self.conn.execute(
                sa.select(sa.func.count()).select_from(table_of(Suppression))
            ).scalar_one()
        )

    # -- lookups ---------------------------------------------------------------------------
    def prefetch(self, keys: Iterable[Key]) -> None:
        """Load the existing identities among ``keys`` with one query per (kind, namespace)."""
        keys = list(keys)
        wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
        for key in keys:
            if key not in self._known:
                wanted[(key[0], key[1])].add(key[2])
        for (kind, ns), values in wanted.items():
            rows = rows_where_in(
                self.conn,
                "SELECT value, id, customer_id FROM identity"
                " WHERE kind = ? AND namespace = ? AND value IN ({in})",
                (kind, ns),
                list(values),
            )
            for value, ident_id, cust_id in rows:
                self._known[(kind, ns, value)] = (ident_id, cust_id)
        if self._check_suppression:
            self._load_suppressed([k for k in keys if k not in self._known])

    def suppressed(self, key: Key) -> bool:
        """Whether ``key`` (prefetched) belongs to a person erased at their request: resolving
        it would keep a marked profile, which a caller that may not keep one checks first."""
        return key in self._suppressed_keys

    def _load_suppressed(self, keys: Sequence[Key]) -> None:
        by_digest = {identity_digest(self.secret, *k): k for k in keys}
        rows = rows_where_in(
            self.conn, "SELECT digest FROM suppression WHERE digest IN ({in})", (), list(by_digest)
        )
        self._suppressed_keys.update(by_digest[d] for (d,) in rows)

    def _find(self, customer_id: int) -> int:
        while customer_id in self._redirect:
            customer_id = self._redirect[customer_id]
        return customer_id

    # -- resolution ------------------------------------------------------------------------
    def resolve(
        self,
        keys: Sequence[Key],
        profile: dict[str, Any] | None = None,
        seen_at: datetime | str | None = None,
    ) -> Resolution:
        """The customer for a record carrying ``keys`` (already normalised, junk removed).

        ``seen_at`` is when the record happened: an aware datetime, or on SQLite the stored
        text (``bulk.utc_text``) an import already has."""
        seen = db_time(self.conn, seen_at) if isinstance(seen_at, datetime) else seen_at
        known, matched = self._known, {}
        for k in keys:
            hit = known.get(k)
            if hit is not None:
                matched[k] = self._find(hit[1]) if hit[1] in self._redirect else hit[1]
        owners = set(matched.values())
        created = False
        if not owners:
            customer_id = self._customer_ids.take()
            self._new_customers[customer_id] = _NewCustomer(
                customer_id, dict(profile or {}), seen, False
            )
            self.stats.customers_created += 1
            created = True
        elif len(owners) == 1:
            (customer_id,) = owners
        else:
            customer_id = self._reconcile(sorted(owners), matched)
        identity_ids = {k: self._known[k][0] for k in matched}
        for key in keys:
            if key in matched or key in identity_ids:
                continue
            if key in self._known:  # added by an earlier record of this batch
                identity_ids[key] = self._known[key][0]
                continue
            ident_id = self._identity_ids.take()
            self._known[key] = (ident_id, customer_id)
            self._new_identities.append((ident_id, customer_id, *key, self.source))
            identity_ids[key] = ident_id
            self.stats.identities_created += 1
        suppressed = bool(self._suppressed_keys) and any(k in self._suppressed_keys for k in keys)
        if suppressed:
            self._mark_suppressed(customer_id)
        elif customer_id in self._new_customers and seen is not None:
            new = self._new_customers[customer_id]
            if new.first_seen_at is None or seen < new.first_seen_at:
                new.first_seen_at = seen
        return Resolution(customer_id, identity_ids, created, suppressed)

    def _mark_suppressed(self, customer_id: int) -> None:
        self.stats.suppressed += 1
        if customer_id in self._new_customers:
            self._new_customers[customer_id].suppressed = True
        else:
            self.conn.execute(
                CUSTOMER.update().where(CUSTOMER.c.id == customer_id).values(suppressed=True)
            )

    def _reconcile(self, owners: list[int], matched: dict[Key, int]) -> int:
        """Several profiles for one record: merge them if safe, else keep the strongest."""
        self.flush()  # pending rows must exist before they can be compared or moved
        held = identities_of(self.conn, owners)
        apart = kept_apart_pairs(self.conn, owners)
        winner = owners[0]
        for other in owners[1:]:
            if frozenset((winner, other)) in apart:
                continue  # two people, on an operator's word: neither merged nor raised again
            clash = clashing_kind(held[winner], held[other])
            if clash:
                self._record_conflict(winner, other, clash)
                continue
            merge_profiles(self.conn, winner, other, f"shared identity ({self.source})", self.actor)
            self._redirect[other] = winner
            held[winner] |= held.pop(other)
            self.stats.merges += 1
        strongest = min(matched, key=_rank)
        return self._find(matched[strongest])

    def _record_conflict(self, a: int, b: int, kind: str) -> None:
        self.stats.conflicts += 1
        if conflict_on_record(self.conn, a, b):
            return  # already waiting for review: one entry per pair
        self.conn.execute(
            table_of(IdentityConflict)
            .insert()
            .values(
                customer_id=a,
                other_customer_id=b,
                kind=kind,
                source=self.source,
                created_at=clock.now(),
            )
        )

    # -- writing ---------------------------------------------------------------------------
    def customer_for(self, customer_id: int) -> int:
        return self._find(customer_id)

    def flush(self) -> None:
        """Write the customers and identities created since the last flush."""
        now = db_time(self.conn, clock.now())
        rows = []
        for c in self._new_customers.values():
            p = c.profile
            rows.append(
                (
                    c.id,
                    p.get("name"),
                    p.get("gender"),
                    p.get("birthday"),
                    p.get("province"),
                    p.get("city"),
                    c.first_seen_at,
                    p.get("source") or self.source,
                    p.get("store_id"),
                    "active",
                    c.suppressed,
                    False,
                    now,
                    now,
                )
            )
        insert_rows(self.conn, CUSTOMER, CUSTOMER_COLUMNS, rows)
        # Existing customers who gained an identity changed too (see customers.changes).
        touch_customers(
            self.conn, {r[1] for r in self._new_identities if r[1] not in self._new_customers}
        )
        insert_rows(
            self.conn,
            IDENTITY,
            ("id", "customer_id", "kind", "namespace", "value", "source", "verified", "created_at"),
            [(*r, False, now) for r in self._new_identities],
        )
        self._new_customers.clear()
        self._new_identities.clear()


CUSTOMER_COLUMNS = (
    "id",
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "first_seen_at",
    "source",
    "store_id",
    "status",
    "suppressed",
    "do_not_disturb",
    "created_at",
    "updated_at",
)

SINGLE_VALUED = {Kind.phone, Kind.unionid, Kind.external_userid, Kind.buyer_id, Kind.member_id}


def identities_of(conn: Connection, customer_ids: list[int]) -> dict[int, set[Key]]:
    """Each customer's identities as (kind, namespace, value)."""
    t = IDENTITY
    held: dict[int, set[Key]] = {c: set() for c in customer_ids}
    rows = conn.execute(
        sa.select(t.c.customer_id, t.c.kind, t.c.namespace, t.c.value).where(
            t.c.customer_id.in_(customer_ids)
        )
    )
    for cust, kind, ns, value in rows:
        held[cust].add((kind, ns, value))
    return held


def clashing_kind(a: set[Key], b: set[Key]) -> str | None:
    """The kind on which two profiles hold different strong ids in one namespace, if any."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, ns, value in a:
        seen[(kind, ns)].add(value)
    for kind, ns, value in b:
        if kind in SINGLE_VALUED and (kind, ns) in seen and value not in seen[(kind, ns)]:
            return kind
    return None


def merge_profiles(conn: Connection, winner: int, loser: int, reason: str, actor: str) -> int:
    """Fold ``loser`` into ``winner``; returns the merge log id. Consent moves unchanged."""
    from siyu.events.models import Event
    from siyu.orders.models import Order

    c = CUSTOMER
    snapshot_row = conn.execute(sa.select(c).where(c.c.id == loser)).mappings().one()
    snapshot = {k: plain_value(v) for k, v in snapshot_row.items()}
    ident_ids = _ids(conn, IDENTITY, loser)
    consent_ids = _ids(conn, table_of(Consent), loser)
    loose_orders = [
        r[0]
        for r in conn.execute(
            sa.select(Order.id).where(Order.customer_id == loser, Order.identity_id.is_(None))
        )
    ]
    loose_events = [
        r[0]
        for r in conn.execute(
            sa.select(Event.id).where(Event.customer_id == loser, Event.identity_id.is_(None))
        )
    ]
    for table in (IDENTITY, table_of(Consent), table_of(Event)):
        conn.execute(table.update().where(table.c.customer_id == loser).values(customer_id=winner))
    orders = table_of(Order)  # updated_at moves too: the analytical copy follows it
    conn.execute(
        orders.update()
        .where(orders.c.customer_id == loser)
        .values(customer_id=winner, updated_at=clock.now())
    )
    conn.execute(
        c.update()
        .where(c.c.id == loser)
        .values(status="merged", merged_into_id=winner, updated_at=clock.now())
    )
    carried_dnd = _fill_blanks(conn, winner, snapshot)
    touch_customers(conn, [winner])  # its identities, consents and tags changed
    moved: dict[str, Any] = {
        "identities": ident_ids,
        "consents": consent_ids,
        "orders": loose_orders,
        "events": loose_events,
        "tags": _move_tags(conn, winner, loser),
    }
    if carried_dnd:  # so an unmerge can take it back, unless changed since
        moved["do_not_disturb_at"] = snapshot.get("do_not_disturb_at")
    result = conn.execute(
        table_of(MergeLog)
        .insert()
        .values(
            winner_id=winner,
            loser_id=loser,
            reason=reason,
            actor=actor,
            moved=moved,
            loser_snapshot=snapshot,
            created_at=clock.now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _move_tags(conn: Connection, winner: int, loser: int) -> list[int]:
    """Tags set by hand, import or WeCom follow the merge unless the winner already has them;
    rule tags stay behind (the next rule run tags the winner if it matches). Returns the moved
    rows, so an unmerge can take them back."""
    from siyu.tags.models import CustomerTag

    tags = table_of(CustomerTag)
    held = sa.select(tags.c.tag_id).where(tags.c.customer_id == winner)
    ids = [
        r[0]
        for r in conn.execute(
            sa.select(tags.c.id).where(
                tags.c.customer_id == loser, tags.c.source != "rule", tags.c.tag_id.not_in(held)
            )
        )
    ]
    if ids:
        conn.execute(tags.update().where(tags.c.id.in_(ids)).values(customer_id=winner))
    return ids


DND_FIELDS = (
    "do_not_disturb_source",
    "do_not_disturb_reason",
    "do_not_disturb_by",
    "do_not_disturb_at",
)


def _fill_blanks(conn: Connection, winner: int, loser_snapshot: dict[str, Any]) -> bool:
    """Blank profile fields of the winner from the loser; a loser's suppression or
    do-not-disturb goes over too (one person asked). Returns whether do-not-disturb did."""
    c = CUSTOMER
    row = conn.execute(sa.select(c).where(c.c.id == winner)).mappings().one()
    values: dict[str, Any] = {
        f: loser_snapshot[f]
        for f in ("name", "gender", "province", "city", "store_id")
        if row[f] is None and loser_snapshot.get(f) is not None
    }
    if loser_snapshot.get("suppressed"):
        values["suppressed"] = True
    carried = bool(loser_snapshot.get("do_not_disturb")) and not row["do_not_disturb"]
    if carried:
        values["do_not_disturb"] = True
        values.update({f: row_value(c, f, loser_snapshot.get(f)) for f in DND_FIELDS})
    if values:
        conn.execute(c.update().where(c.c.id == winner).values(**values, updated_at=clock.now()))
    return carried


def row_value(table: sa.Table, column: str, value: Any) -> Any:
    """A snapshot's JSON value back in the column's type (times were stored as ISO text)."""
    if value is not None and isinstance(table.c[column].type, UTCDateTime):
        return datetime.fromisoformat(value)
    return value


def _ids(conn: Connection, table: sa.Table, customer_id: int) -> list[int]:
    return [
        r[0] for r in conn.execute(sa.select(table.c.id).where(table.c.customer_id == customer_id))
    ]
