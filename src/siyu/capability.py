"""What a capability declares about itself, once, in its package's ``__init__.py``.

The app, the CLI root, the worker, privacy erasure, the segment field catalogue, the analytical
copy, the metric registry, reactions, Alembic and the docs generator all iterate the manifests
listed in ``siyu.capabilities``; nothing else keeps a list of capabilities.

Departure from DESIGN §10's example: a manifest names what it provides by *reference*
(``".api:router"``, ``".models"``), not by object. Importing ``siyu.tags`` must stay as cheap as
importing ``siyu.tags.service`` is today: a manifest holding the router itself would pull FastAPI
and the whole web kit into every service import (and into the worker and the CLI), and would
make each package's ``__init__`` import half the code base, creating import cycles. References
are resolved on first use; ``tests/unit/test_capabilities.py`` resolves every one of them, so a
typo fails the suite instead of a page.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any


class Permission(str):
    """Something a person or a machine may be allowed to do, named ``"area:verb"``
    (``"campaigns:approve"``). The capability it guards declares it, with the label the
    administrators' pages show, the roles that hold it by default (administrators hold every
    one) and whether an API key may carry it: the accounts capability gathers its role table
    from these declarations, so a new capability brings its permissions with it. It *is* its
    name (a ``str``), which is what the database stores for API-key scopes."""

    label: str
    roles: frozenset[str]
    api_key: bool

    def __new__(
        cls, name: str, label: str, *, roles: Collection[str] = (), api_key: bool = False
    ) -> Permission:
        made = super().__new__(cls, name)
        made.label, made.roles, made.api_key = label, frozenset(roles), api_key
        return made

    def __getnewargs_ex__(self) -> tuple[tuple[str, str], dict[str, Any]]:
        # copied and pickled whole (a principal's permissions travel with it)
        return (str(self), self.label), {"roles": tuple(self.roles), "api_key": self.api_key}


@dataclass(frozen=True)
class NavEntry:
    """A link in the console's navigation bar. ``key`` names the page family (a page sets
    ``active_page`` to it to be shown as where the reader is); ``label`` is marked with
    ``NP_("navigation", …)``; ``links`` are ``(permission or None, path)`` pairs, of which the
    reader gets the first they may open (no link when none: the entry is not shown); ``order``
    places it in the bar, whatever the capability's place in the list."""

    key: str
    label: Any
    links: tuple[tuple[str | None, str], ...]
    order: int


# A reference: "module" or "module:attribute"; a leading "." is relative to the capability's
# own package (".api:router" in siyu.tags is siyu.tags.api:router).
Ref = str


@dataclass(frozen=True)
class Capability:
    """One capability's manifest.

    ``models`` are the modules holding its tables; ``routers`` its API routers and ``pages`` its
    console pages (FastAPI routers); ``middleware`` ASGI middleware classes it needs before
    routing (a callback URL answered outside the session machinery); ``cli`` a function taking
    the root Typer app; ``tasks`` modules whose ``@handler``/``@periodic`` jobs the worker runs;
    ``pumps`` functions the worker calls back to back for work that cannot wait for a poll;
    ``erasers`` functions called inside a PIPL erasure's transaction (``(session, context) ->
    rows``); ``exporters`` functions adding what the capability holds about a person to their
    PIPL data export (``(session, customer ids) -> {section: rows}``); ``benefit_issuers``
    functions giving a WeCom keyword reply's benefit from a pool the capability backs (``(session,
    ref, customer id) -> wecom.replies.pools.Issued``: a coupon of its own instead of a loaded
    code); ``welcome_extras`` functions adding attachments to the WeCom welcome message of a
    customer who added a staff member through a contact way with a state (``(session, corp pk,
    state) -> [attachment]``: a fission campaign's group QR), called inside the welcome code's
    20 s, so a read or two at most; ``segment_fields``, ``copied_tables``, ``metrics`` and ``template_variables`` sequences of
    declarations;
    ``channels`` factories ``(settings) -> Channel | None`` of the channels it sends on;
    ``subscribers`` ``(topic, function)`` pairs, told of other capabilities' changes after
    commit (``siyu.reactions``); ``permissions`` what it lets roles and API keys do (declared
    here as values, not references: they are names and labels, cheap to hold); ``nav`` its
    entries in the console's navigation bar (values too).
    """

    name: str
    package: str
    summary: str = ""  # one line for the generated capability table (docs/capabilities.md)
    models: tuple[Ref, ...] = ()
    routers: tuple[Ref, ...] = ()
    pages: tuple[Ref, ...] = ()
    middleware: tuple[Ref, ...] = ()
    cli: Ref | None = None
    tasks: tuple[Ref, ...] = ()
    pumps: tuple[Ref, ...] = ()
    erasers: tuple[Ref, ...] = ()
    exporters: tuple[Ref, ...] = ()
    benefit_issuers: tuple[Ref, ...] = ()
    welcome_extras: tuple[Ref, ...] = ()
    segment_fields: tuple[Ref, ...] = ()
    copied_tables: tuple[Ref, ...] = ()
    metrics: tuple[Ref, ...] = ()
    template_variables: tuple[Ref, ...] = ()
    channels: tuple[Ref, ...] = ()
    subscribers: tuple[tuple[str, Ref], ...] = ()
    permissions: tuple[Permission, ...] = ()
    nav: tuple[NavEntry, ...] = ()

    @property
    def folder(self) -> Path:
        """Where the capability's files are (its templates in ``templates/`` beside them)."""
        return Path(str(importlib.import_module(self.package).__file__)).parent

    def absolute(self, ref: Ref) -> str:
        return self.package + ref if ref.startswith(".") else ref

    def load(self, ref: Ref) -> Any:
        """The module or attribute ``ref`` names (imported on first use)."""
        module, _, attr = self.absolute(ref).partition(":")
        found: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else ():
            found = getattr(found, part)
        return found

    def refs(self) -> list[Ref]:
        """Every reference this manifest holds (the test resolves them all)."""
        out: list[Ref] = [
            *self.models,
            *self.routers,
            *self.pages,
            *self.middleware,
            *self.tasks,
            *self.pumps,
            *self.erasers,
            *self.exporters,
            *self.benefit_issuers,
            *self.welcome_extras,
            *self.segment_fields,
            *self.copied_tables,
            *self.metrics,
            *self.template_variables,
            *self.channels,
            *(ref for _topic, ref in self.subscribers),
        ]
        if self.cli:
            out.append(self.cli)
        return out


# (session, customer ids, the values found so far by id, today, the names a template uses or
# None for all) -> None: fills in its own names for each customer
VariableLoader = Callable[
    [Any, Sequence[int], dict[int, dict[str, Any]], date, Collection[str] | None], None
]


@dataclass(frozen=True)
class TemplateVariables:
    """Message-template variables a capability knows about each customer, loaded together for a
    whole batch of recipients in a few queries (never one query per message). ``labels`` name
    each variable for the template editor, ``samples`` are what a template is tried with when it
    is saved, ``personal`` are those a WeCom mass message may not carry (WeCom's rules)."""

    labels: Mapping[str, str]
    samples: Mapping[str, Any]
    load: VariableLoader
    personal: frozenset[str] = field(default_factory=frozenset)
