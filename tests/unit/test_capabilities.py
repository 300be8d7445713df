"""The capability packages keep their shape: every package is listed once, declares itself in a
manifest whose every reference resolves to the right kind of thing, has its models and service,
and puts each standard role (API routes, pages, commands, jobs, erasers, segment fields) in the
module of the standard name, so a reader finds the same things in the same files everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIYU = Path(__file__).resolve().parents[2] / "src" / "siyu"
# The standard file set of a capability (DESIGN §10). Other modules are helpers with names of
# their own (``resolution.py``, ``masking.py``); what they may not do is play a standard role.
STANDARD = {"models", "service", "queries", "api", "public", "views", "cli", "tasks", "privacy"}
ROLE_MODULE = {
    "routers": {"api", "public"},
    "pages": {"views"},
    "cli": {"cli"},
    "tasks": {"tasks"},
    "pumps": {"tasks"},
    "erasers": {"privacy", "service"},
    "segment_fields": {"segment_fields"},
    "copied_tables": {"models"},
    "template_variables": {"queries"},
    "subscribers": {"service", "tasks"},
}
# Modules that play a standard role under another name: none is left; the list may only stay
# empty.
NOT_YET_STANDARD: set[str] = set()


def _packages() -> list[str]:
    return sorted(p.parent.name for p in SIYU.glob("*/__init__.py"))


def test_every_package_is_listed_once() -> None:
    from siyu.capabilities import CAPABILITIES, NOT_CAPABILITIES

    names = [c.name for c in CAPABILITIES]
    assert len(names) == len(set(names))
    assert sorted(names + sorted(NOT_CAPABILITIES)) == _packages()
    for cap in CAPABILITIES:
        assert cap.package == f"siyu.{cap.name}"


@pytest.mark.parametrize("name", _packages())
def test_capability_has_its_models_and_service(name: str) -> None:
    from siyu.capabilities import NOT_CAPABILITIES, PLATFORM

    if name in NOT_CAPABILITIES | PLATFORM:
        pytest.skip("not a capability")
    features = [  # sub-packages holding standard modules (an adapter package such as
        # reach/channels holds none)
        d
        for d in (SIYU / name).iterdir()
        if (d / "__init__.py").is_file() and any((d / f"{s}.py").is_file() for s in STANDARD)
    ]
    if not features:
        assert (SIYU / name / "models.py").is_file(), f"{name} has no models.py"
        assert (SIYU / name / "service.py").is_file(), f"{name} has no service.py"
    tables = [SIYU / name / "models.py", *(f / "models.py" for f in features)]
    assert any(t.is_file() for t in tables), f"{name} keeps no tables"
    for feature in features:  # a big domain: a package of sub-features, each with its service
        assert (feature / "service.py").is_file(), f"{name}/{feature.name} has no service.py"


def test_no_file_is_empty() -> None:
    empty = [
        str(p.relative_to(SIYU))
        for p in SIYU.rglob("*.py")
        if not ast.parse(p.read_text(encoding="utf-8")).body
    ]
    assert empty == []


def test_every_reference_resolves_to_its_kind() -> None:
    import typer
    from fastapi import APIRouter

    from siyu.analytics.tables import CopiedTable
    from siyu.capabilities import CAPABILITIES
    from siyu.capability import TemplateVariables
    from siyu.metrics.registry import Metric
    from siyu.reactions import Topic
    from siyu.segments.fields import FieldSpec

    for cap in CAPABILITIES:
        for ref in cap.refs():
            assert cap.load(ref) is not None, ref
        for ref in (*cap.routers, *cap.pages):
            assert isinstance(cap.load(ref), APIRouter), ref
        if cap.cli:
            root = typer.Typer()
            cap.load(cap.cli)(root)  # it adds its commands to a root
            assert root.registered_commands or root.registered_groups, cap.name
        for ref in (*cap.erasers, *cap.pumps, *cap.channels):
            assert callable(cap.load(ref)), ref
        kinds = {
            "segment_fields": FieldSpec,
            "copied_tables": CopiedTable,
            "metrics": Metric,
            "template_variables": TemplateVariables,
        }
        for kind, cls in kinds.items():
            for ref in getattr(cap, kind):
                found = cap.load(ref)
                assert isinstance(found, tuple) and found, ref
                assert all(isinstance(x, cls) for x in found), ref
        for topic, ref in cap.subscribers:
            assert topic in set(Topic), (cap.name, topic)
            assert callable(cap.load(ref)), ref


def test_manifest_roles_live_in_standard_modules() -> None:
    from siyu.capabilities import CAPABILITIES

    wrong = []
    for cap in CAPABILITIES:
        for kind, allowed in ROLE_MODULE.items():
            value = getattr(cap, kind)
            refs = [value] if isinstance(value, str) else list(value or ())
            if kind == "subscribers":
                refs = [ref for _topic, ref in refs]
            for ref in refs:
                module = cap.absolute(ref).partition(":")[0]
                if module.count(".") == 1:  # the platform's own (siyu.reactions)
                    continue
                if module.rsplit(".", 1)[1] not in allowed and module not in NOT_YET_STANDARD:
                    wrong.append(f"{cap.name}.{kind}: {module}")
    assert wrong == []


def _roles(path: Path) -> set[str]:
    """The standard roles a module plays, read from its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roles = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called == "APIRouter":
                roles.add("routes")
            elif called == "typer.Typer":
                roles.add("commands")
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) in {"handler", "periodic"}:
                    roles.add("jobs")
    return roles


def test_modules_playing_a_standard_role_have_its_name() -> None:
    from siyu.capabilities import NOT_CAPABILITIES

    where = {"routes": {"api", "public", "views"}, "commands": {"cli"}, "jobs": {"tasks"}}
    wrong, stale = [], []
    for path in SIYU.glob("*/**/*.py"):
        if path.relative_to(SIYU).parts[0] in NOT_CAPABILITIES - {"console"}:
            continue
        module = "siyu." + ".".join(path.relative_to(SIYU).with_suffix("").parts)
        misplaced = [r for r in _roles(path) if path.stem not in where[r]]
        if misplaced and module not in NOT_YET_STANDARD:
            wrong.append(f"{module}: {misplaced}")
        if not misplaced and module in NOT_YET_STANDARD:
            stale.append(module)
    assert wrong == []
    assert stale == [], "no longer an exception: take it off NOT_YET_STANDARD"


def test_standard_names_are_the_documented_set() -> None:
    """The capability file set documented for contributors is the one this test holds."""
    doc = (SIYU.parents[1] / "docs" / "development" / "adding-a-capability.md").read_text(
        encoding="utf-8"
    )
    for name in sorted(STANDARD | {"segment_fields"}):
        assert f"`{name}.py`" in doc, name


def test_template_variables_are_declared_once() -> None:
    from siyu.reach.sending import variables

    names = [n for group in variables.providers() for n in group.labels]
    assert len(names) == len(set(names))
    for group in variables.providers():
        assert set(group.samples) == set(group.labels) and group.personal <= set(group.labels)


def test_every_channel_has_one_name() -> None:
    from siyu.config import Settings
    from siyu.reach.sending.dispatch import configured_channels

    settings = Settings(
        secret_key="k" * 32,
        sms_access_key_id="id",
        sms_access_key_secret="secret",
        smtp_host="127.0.0.1",
        email_from="brand@example.com",
        oa_appid="wx1",
        oa_secret="s",
    )
    assert sorted(configured_channels(settings)) == [
        "email",
        "oa",
        "sms",
        "webhook",
        "wecom",
        "wecom_app",
    ]


def test_permissions_are_declared_by_capabilities() -> None:
    """Who may do what is gathered from the manifests: each permission is declared once, by one
    capability, named ``area:verb``, labelled, and granted only to roles that exist; the role
    table holds nothing that no capability declared."""
    from siyu.accounts.permissions import API_KEY_SCOPES, PERMISSIONS, ROLE_PERMISSIONS, Role
    from siyu.capabilities import CAPABILITIES

    names = [str(p) for p in PERMISSIONS]
    assert len(names) == len(set(names)) >= 20
    for cap in CAPABILITIES:
        for perm in cap.permissions:
            area, _sep, verb = perm.partition(":")
            assert area and verb and verb.isidentifier(), perm
            assert perm.label and perm.roles <= set(Role) - {Role.admin}, perm
    assert ROLE_PERMISSIONS[Role.admin] == frozenset(PERMISSIONS)
    for held in ROLE_PERMISSIONS.values():
        assert held <= frozenset(PERMISSIONS)
    assert API_KEY_SCOPES and not {"users:manage", "apikeys:manage"} & API_KEY_SCOPES


# Who held each permission before the permissions moved into the manifests (administrators
# hold every one), and whether an API key could carry it. A capability added later brings its
# own permissions without touching this table.
BEFORE_MANIFESTS = {
    "customers:read": ({"operator", "analyst", "store_guide"}, True),
    "customers:unmask": ({"operator", "store_guide"}, True),
    "customers:write": ({"operator"}, False),
    "customers:export": ({"operator"}, True),
    "customers:consent": ({"operator", "store_guide"}, False),
    "imports:run": ({"operator"}, True),
    "events:write": (set(), True),
    "privacy:export": (set(), False),
    "privacy:manage": (set(), False),
    "users:manage": (set(), False),
    "apikeys:manage": (set(), False),
    "audit:read": (set(), False),
    "tags:write": ({"operator"}, False),
    "traits:run": ({"operator", "analyst"}, False),
    "segments:write": ({"operator", "analyst"}, True),
    "wecom:manage": ({"operator"}, False),
    "campaigns:write": ({"operator"}, True),
    "campaigns:approve": (set(), False),
    "metrics:read": ({"operator", "analyst"}, True),
    "metrics:write": ({"operator", "analyst"}, False),
}


def test_the_role_table_is_what_it_was() -> None:
    """Moving the permissions into the manifests changed nobody's rights."""
    from siyu.accounts.permissions import API_KEY_SCOPES, BY_NAME, ROLE_PERMISSIONS, Role

    for name, (roles, api_key) in BEFORE_MANIFESTS.items():
        perm = BY_NAME[name]
        holders = {str(role) for role in Role if perm in ROLE_PERMISSIONS[role]}
        assert holders == roles | {"admin"}, name
        assert (perm in API_KEY_SCOPES) == api_key, name


def test_navigation_comes_from_the_manifests() -> None:
    """The console's bar lists the capabilities' entries in their order, each reader the links
    they may open; every page that marks itself active names an entry that exists."""
    import re

    from siyu.accounts.permissions import ROLE_PERMISSIONS, Role
    from siyu.accounts.service import Principal
    from siyu.capabilities import CAPABILITIES
    from siyu.console.views import navigation
    from siyu.i18n import speaking

    keys = [e.key for cap in CAPABILITIES for e in cap.nav]
    order = {e.key: e.order for cap in CAPABILITIES for e in cap.nav}
    assert len(keys) == len(set(keys))
    marked = set()
    for page in SIYU.rglob("templates/*.html"):
        marked |= set(re.findall(r"\{% set active_page = '(\w+)' %\}", page.read_text()))
    assert marked and marked <= set(keys)

    def bar(role: Role) -> list[tuple[str, str]]:
        with speaking("en"):
            found = navigation(Principal("t", role, ROLE_PERMISSIONS[role]))
        return [(link.key, link.href) for link in found]

    def first_wave(role: Role) -> list[str]:  # the entries that existed when this was written
        known = {"dashboard", "customers", "insight", "segments", "campaigns", "wecom"}
        return [k for k, _h in bar(role) if k in known | {"imports", "jobs", "admin"}]

    everyone = ["dashboard", "customers", "insight", "segments", "campaigns", "wecom"]
    assert first_wave(Role.admin) == [*everyone, "imports", "jobs", "admin"]
    assert ("admin", "/admin") in bar(Role.admin)
    assert first_wave(Role.analyst) == [*everyone, "jobs"]
    assert first_wave(Role.store_guide) == everyone
    assert [k for k, _h in bar(Role.admin)] == sorted(keys, key=lambda k: order[k])
    with speaking("zh-CN"):
        auditor = navigation(Principal("a", "auditor", frozenset({"audit:read"})))
    assert [(x.key, x.href, x.text) for x in auditor][-1] == ("admin", "/admin/audit", "系统管理")


def test_a_permission_survives_copying_and_pickling() -> None:
    import copy
    import pickle

    from siyu.reach import CAMPAIGNS_WRITE

    for again in (copy.deepcopy(CAMPAIGNS_WRITE), pickle.loads(pickle.dumps(CAMPAIGNS_WRITE))):
        assert again == "campaigns:write" and again.label == CAMPAIGNS_WRITE.label
        assert again.roles == CAMPAIGNS_WRITE.roles and again.api_key is True
