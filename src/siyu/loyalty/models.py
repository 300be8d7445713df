"""The points ledger (DESIGN §12): programmes, members, dated lots and append-only entries.

A lot is what one earning (an order, an event, an adjustment, an opening balance) put in, with
the date it becomes spendable (after the refund window) and the date it expires. Every movement
is an entry on one lot (or, for points owed after a refund of points already spent, on none:
the member's debt). A lot's remaining points, and every balance, are sums of entries; the
``points_balance`` row is a summary kept in the same transaction, which a test proves equal to
the ledger. Entries are never updated or deleted: a refund is a compensating entry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import INT, TEXT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class RefundRule(StrEnum):
    """What happens when a refund takes back points that were already spent."""

    negative = "negative"  # the balance shows below zero until later earnings cover it
    deduct_later = "deduct_later"  # the balance shows zero; later earnings pay the debt first


class EntryKind(StrEnum):
    earn = "earn"  # a new lot (order, event, adjustment, opening balance)
    spend = "spend"  # points used (a redemption, an order paid with points), per lot
    expire = "expire"  # a lot's remainder at its expiry
    take_back = "take_back"  # a refund of the earning order takes the lot's points back
    give_back = "give_back"  # a refund of an order paid with points returns them to their lots
    debt = "debt"  # taken back beyond what was left (no lot): the member owes it
    repay = "repay"  # a later earning pays the debt: minus on the new lot, plus on the debt
    adjust = "adjust"  # a manual deduction with a reason, per lot
    forgive = "forgive"  # a refund of points that had expired: nothing to take (``covers``)


class Programme(Base):
    """A brand's loyalty programme (or a group's, across brands, when ``brand_id`` is empty):
    its refund window, how long points last and what a refund after spending does."""

    __tablename__ = "loyalty_programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brand.id"))
    pending_days: Mapped[int] = mapped_column(sa.Integer, default=7)  # refund window
    lot_months: Mapped[int] = mapped_column(sa.Integer, default=12)  # 0: points never expire
    refund_rule: Mapped[str] = mapped_column(sa.String(16), default=RefundRule.negative)
    point_value_fen: Mapped[int] = mapped_column(sa.Integer, default=1)  # for the liability
    # tiers: what qualifies (points earned | spend_fen | orders) over how many months, counted
    # as a rolling window or by calendar year; at the window's end a member short of the
    # threshold goes down one level or to the level the measure reaches, after a grace period
    tier_measure: Mapped[str] = mapped_column(sa.String(10), default="points")
    tier_window: Mapped[str] = mapped_column(sa.String(10), default="rolling")
    tier_months: Mapped[int] = mapped_column(sa.Integer, default=12)
    tier_downgrade: Mapped[str] = mapped_column(sa.String(12), default="one_level")
    tier_grace_days: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    """A customer enrolled in a programme. After erasure ``customer_id`` is empty and
    ``tombstone`` names the member, so the ledger stays whole without personal data."""

    __tablename__ = "loyalty_member"
    __table_args__ = (
        sa.UniqueConstraint("programme_id", "customer_id"),
        # the welcome-coupon sweep: a programme's members who joined since a rule was set
        sa.Index("ix_loyalty_member_joined", "programme_id", "joined_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    tombstone: Mapped[str | None] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(10), default="active")  # active | erased
    join_channel: Mapped[str] = mapped_column(sa.String(20), default="")
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loyalty_tier.id"))
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # how the customer agreed to join (the terms' version, the sign-in that proved it was
    # them, the till or the live code): evidence kept with the membership, no personal data
    consent_evidence: Mapped[str] = mapped_column(sa.String(300), default="")


class PointsLot(Base):
    """What one earning put in: spendable from ``available_at`` (after the refund window),
    gone at ``expires_at`` (never when empty). One lot per source: the same order or event
    earning twice finds its lot already there."""

    __tablename__ = "points_lot"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "source_kind", "source_id"),
        sa.Index("ix_points_lot_member_expiry", "member_id", "expires_at"),
        sa.Index("ix_points_lot_expiry", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"))
    source_kind: Mapped[str] = mapped_column(sa.String(20))  # order | event | adjustment | opening
    source_id: Mapped[str] = mapped_column(sa.String(100))
    points: Mapped[int] = mapped_column(sa.Integer)  # as earned
    # an order's lot: the money (fen, net of refunds then) it was earned on, so a later refund
    # takes back its share of the points whatever the rules say by then
    basis_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsEntry(Base):
    """One movement of points on one lot (``lot_id`` empty: the member's debt), signed.
    Idempotent on its source: one entry per (source, lot, kind)."""

    __tablename__ = "points_entry"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "source_kind", "source_id", "lot_key", "kind"),
        sa.Index("ix_points_entry_lot", "lot_id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"))
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("points_lot.id"))
    lot_key: Mapped[int] = mapped_column(sa.Integer, default=0)  # lot_id, or 0 for the debt
    kind: Mapped[str] = mapped_column(sa.String(12))
    points: Mapped[int] = mapped_column(sa.Integer)  # signed: what it does to the lot
    source_kind: Mapped[str] = mapped_column(sa.String(20))
    source_id: Mapped[str] = mapped_column(sa.String(100))
    # what a compensating entry compensates ("order:T1001" for a refund's take-back)
    linked: Mapped[str] = mapped_column(sa.String(121), default="")
    # the refund's points this entry accounts for where it moves none (``forgive``)
    covers: Mapped[int] = mapped_column(sa.Integer, default=0)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsBalance(Base):
    """The member's totals, kept with every entry in the same transaction (a test proves them
    equal to the ledger); its row is also the lock two spends of the same member queue on."""

    __tablename__ = "points_balance"

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"), primary_key=True)
    remaining: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # left in lots (pending too)
    debt: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # owed, not yet repaid
    earned: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    spent: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # net of points given back
    expired: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    taken_back: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # refunds, debt included
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EarnBasis(StrEnum):
    spend = "spend"  # points per yuan an order paid in money (points-paid and discounts excluded)
    event = "event"  # points per event (sign-in, first WeCom add, review, birthday …)


class EarnRule(Base):
    """How many points something earns. A spend rule gives ``rate`` points per 100 yuan of what
    an order paid in money, net of refunds (so 100 is 1 point per yuan, 10 is 1 per 10 yuan);
    the most specific rule wins: a store's over a brand's over the programme's, and a
    category's for the order lines of that category. An event rule gives ``points`` for each
    event of its name. Rules change; what an order earned does not (its lot keeps it)."""

    __tablename__ = "loyalty_earn_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    basis: Mapped[str] = mapped_column(sa.String(10), default=EarnBasis.spend)
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brand.id"))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    category: Mapped[str | None] = mapped_column(sa.String(100))
    event: Mapped[str | None] = mapped_column(sa.String(100))
    rate: Mapped[int] = mapped_column(sa.Integer, default=0)  # spend: points per 100 yuan
    points: Mapped[int] = mapped_column(sa.Integer, default=0)  # event: points per event
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tier(Base):
    """A membership level. A member qualifies by reaching ``threshold`` of the programme's
    measure (points earned, yuan spent or orders) within its qualification window; a higher
    tier multiplies what spend earns by ``multiplier_pct`` (100: as the rule says)."""

    __tablename__ = "loyalty_tier"
    __table_args__ = (
        sa.UniqueConstraint("programme_id", "code"),
        sa.UniqueConstraint("programme_id", "rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    rank: Mapped[int] = mapped_column(sa.Integer)  # 0 is the entry tier
    threshold: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    multiplier_pct: Mapped[int] = mapped_column(sa.Integer, default=100)


class TierChange(Base):
    """A member's move between tiers, kept for the member's history and the tier flow."""

    __tablename__ = "loyalty_tier_change"
    __table_args__ = (sa.Index("ix_loyalty_tier_change_member", "member_id", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"))
    from_tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loyalty_tier.id"))
    to_tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loyalty_tier.id"))
    reason: Mapped[str] = mapped_column(sa.String(20))  # upgrade | downgrade | import | manual
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The analytical copy (segments: a member's tier and points). Copied whole at each refresh: an
# incremental refresh follows an ``id`` and a change column, which memberships (a tier move)
# and balances (keyed by member) lack; a few narrow columns per member. No personal data.
COPIED = (
    CopiedTable("loyalty_programme", (("id", INT), ("code", TEXT), ("brand_id", INT))),
    CopiedTable(
        "loyalty_member",
        (
            ("id", INT),
            ("programme_id", INT),
            ("customer_id", INT),
            ("status", TEXT),
            ("tier_id", INT),
            ("joined_at", TIME),
        ),
        customer_key="customer_id",
    ),
    CopiedTable(
        "loyalty_tier",
        (("id", INT), ("programme_id", INT), ("code", TEXT), ("name", TEXT), ("rank", INT)),
    ),
    CopiedTable("points_balance", (("member_id", INT), ("remaining", INT), ("debt", INT))),
)
