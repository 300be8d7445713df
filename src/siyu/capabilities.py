"""Every capability, in dependency order: the one list the rest of Siyu iterates.

Adding a capability is one new folder (its ``__init__.py`` declares a ``Capability``) and one
line here. A capability comes after those it uses, so the app includes routers, the CLI lists
commands and erasure runs erasers in an order where nothing refers to what is not there yet.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from siyu.capability import Capability

ORDER = (
    "jobs",
    "accounts",
    "brands",
    "catalog",
    "customers",
    "orders",
    "events",
    "ingest",
    "privacy",
    "analytics",
    "traits",
    "tags",
    "segments",
    "wecom",
    "oa",
    "reach",
    "loyalty",
    "centre",
    "growth",
    "metrics",
    "demo",
)
"""The capability packages under ``siyu``, each after those it uses."""

CAPABILITIES: tuple[Capability, ...] = tuple(
    importlib.import_module(f"siyu.{name}").CAPABILITY for name in ORDER
)

# Packages that are not capabilities: the web shell and its shared page kit, the schema's
# migrations, the local stand-ins for WeCom/SMS/mail, and the template sandbox.
NOT_CAPABILITIES = frozenset({"console", "migrations", "simulators", "sandbox"})
# Parts of the platform that declare a manifest (a worker queue, the analytical copy, the demo
# data) but hold no business rules of their own, so the capability file set does not apply.
PLATFORM = frozenset({"analytics", "demo"})


def provided(kind: str) -> Iterator[tuple[Capability, Any]]:
    """Each ``(capability, object)`` that capabilities provide under ``kind`` ("routers",
    "erasers", …), in the list's order, imported on first use."""
    for cap in CAPABILITIES:
        for ref in getattr(cap, kind):
            yield cap, cap.load(ref)


def each(kind: str) -> Iterator[Any]:
    """The objects provided under ``kind``, flattened when a reference names a sequence of
    declarations (segment fields, copied tables, metrics)."""
    for _cap, found in provided(kind):
        if isinstance(found, tuple | list):
            yield from found
        else:
            yield found


def import_models() -> None:
    """Import every table module, so ``Base.metadata`` holds the whole schema."""
    for _ in provided("models"):
        pass


def import_tasks() -> None:
    """Import every task module, so the worker's registry holds every job handler."""
    for _ in provided("tasks"):
        pass


def subscribers(topic: str) -> list[tuple[Capability, str]]:
    """The capabilities (and their function references) told of ``topic``."""
    return [(cap, ref) for cap in CAPABILITIES for t, ref in cap.subscribers if t == topic]


def by_name(name: str) -> Capability:
    for cap in CAPABILITIES:
        if cap.name == name:
            return cap
    raise LookupError(f"no capability named {name!r}")
