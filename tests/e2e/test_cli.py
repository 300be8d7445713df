"""The `siyu` command: exit statuses, permissions, privacy and merges from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from siyu.cli import app
from tests import platform_files as pf

runner = CliRunner()


def siyu(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def tb_file(tmp_path: Path, bad: bool = False) -> Path:
    rows = [
        pf.taobao_row("7001", "tb_a", "13812347001", "10.00"),
        pf.taobao_row("7002", "tb_b", "13812347002", "20.00"),
    ]
    if bad:
        rows.append(pf.taobao_row("7003", "tb_c", "13812347003", "oops"))
    return pf.taobao(tmp_path / "tb.csv", rows)


def test_import_exit_statuses(tmp_path: Path) -> None:
    ok = siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["inserted"] == 2
    with_rejects = siyu("import", "orders", str(tb_file(tmp_path, bad=True)), "--source", "taobao")
    assert with_rejects.exit_code == 0 and "rejected" in with_rejects.stdout
    strict = siyu(
        "import", "orders", str(tb_file(tmp_path, bad=True)), "--source", "taobao", "--strict"
    )
    assert strict.exit_code == 3
    unknown = siyu("import", "orders", str(tb_file(tmp_path)), "--source", "amazon")
    assert unknown.exit_code == 1 and "taobao" in unknown.output
    assert siyu("import", "orders", str(tmp_path), "--source", "taobao").exit_code == 1
    assert (
        siyu("import", "orders", str(tmp_path / "missing.csv"), "--source", "taobao").exit_code == 1
    )
    all_bad = pf.taobao(tmp_path / "bad.csv", [pf.taobao_row("7009", "tb_z", "x", "oops")])
    assert siyu("import", "orders", str(all_bad), "--source", "taobao").exit_code == 1


def test_privacy_export_and_erase(tmp_path: Path) -> None:
    siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao")
    out = siyu("privacy", "export", "--phone", "13812347001")
    assert out.exit_code == 0 and "+8613812347001" in out.stdout
    assert siyu("analytics", "refresh").exit_code == 0
    erased = siyu("privacy", "erase", "--phone", "13812347001", "--yes")
    assert erased.exit_code == 0 and json.loads(erased.stdout)["erased_profiles"] == 1
    # the report says what happened to the analytical copy: rows out, file rebuilt, searched
    copy = json.loads(erased.stdout)["analytical_copy"]
    assert copy["state"] == "rebuilt" and copy["found_in"] == [] and copy["forms_searched"] >= 4
    assert copy["rows_removed"]["customer"] == 1 and copy["rows_removed"]["order"] >= 1
    again = siyu("privacy", "export", "--phone", "13812347001")
    assert again.exit_code == 1 and "no customer" in again.output
    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:
        actions = set(s.scalars(sa.select(AuditLog.action)))
    assert {"privacy.export", "privacy.erase", "import.orders"} <= actions


def test_permissions_apply_to_a_named_cli_user(tmp_path: Path) -> None:
    from siyu.accounts.service import create_user
    from siyu.config import get_settings
    from siyu.db import session_scope

    with session_scope() as s:
        create_user(s, get_settings(), "ana", "analyst-password", "analyst")
    denied = siyu("privacy", "export", "--phone", "13812347001", env={"SIYU_CLI_USER": "ana"})
    assert denied.exit_code == 4 and "may not" in denied.output
    nobody = siyu("privacy", "export", "--phone", "13812347001", env={"SIYU_CLI_USER": "ghost"})
    assert nobody.exit_code == 1


def test_merge_and_unmerge(tmp_path: Path) -> None:
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao")
    with session_scope() as s:
        a, b = s.scalars(sa.select(Customer.id).order_by(Customer.id)).all()
    refused = siyu("customers", "merge", str(a), str(b))
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = siyu("customers", "merge", str(a), str(b), "--force")
    assert forced.exit_code == 0
    merge_id = forced.stdout.split("merge id ")[1].split()[0].rstrip(";")
    assert siyu("customers", "unmerge", merge_id).exit_code == 0
    assert siyu("customers", "unmerge", merge_id).exit_code == 1


def test_apikey_and_users(tmp_path: Path) -> None:
    created = siyu("apikey", "create", "pos-sync", "--scope", "events:write")
    assert created.exit_code == 0 and created.stdout.startswith("sy_")
    assert siyu("apikey", "create", "bad", "--scope", "users:manage").exit_code == 1
    short = runner.invoke(app, ["users", "add", "x", "--role", "operator"], input="short\nshort\n")
    assert short.exit_code == 1 and "10 characters" in short.output


def test_production_refuses_to_start_without_secret_key(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from siyu.config import reset_settings

    monkeypatch.delenv("SIYU_SECRET_KEY")
    reset_settings()
    result = siyu("serve")
    assert result.exit_code == 1 and "SIYU_SECRET_KEY" in result.output


def test_search_and_show_are_masked_unless_unmasked(tmp_path: Path) -> None:
    siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao")
    found = siyu("customers", "search", "13812347001")
    assert found.exit_code == 0 and "138****7001" in found.stdout and "1 customers" in found.stdout
    cid = found.stdout.splitlines()[1].split()[0]
    masked = json.loads(siyu("customers", "show", cid).stdout)
    assert masked["identities"][0]["value"] != "+8613812347001"
    full = json.loads(siyu("customers", "show", cid, "--unmask").stdout)
    assert "+8613812347001" in {i["value"] for i in full["identities"]}
    assert siyu("customers", "show", "999999").exit_code == 1


def test_traits_recompute_and_analytics_from_the_shell(tmp_path: Path) -> None:
    assert siyu("analytics", "status").stdout.startswith("the analytical copy has not been built")
    assert siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao").exit_code == 0
    done = siyu("traits", "recompute", "--reference-date", "2026-12-31", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["customers"] == 2 and result["engine"] == "duckdb"
    status = json.loads(siyu("analytics", "status", "--json").stdout)
    assert {t["table"]: t["rows"] for t in status}["order"] == 2
    runs = json.loads(siyu("traits", "runs", "--json").stdout)
    assert runs[0]["status"] == "done" and runs[0]["customers"] == 2
    assert siyu("analytics", "refresh", "--full").exit_code == 0
    bad_date = siyu("traits", "recompute", "--reference-date", "31/12/2026")
    assert bad_date.exit_code == 1 and "YYYY-MM-DD" in bad_date.stderr
    bad_engine = siyu("traits", "recompute", "--engine", "excel")
    assert bad_engine.exit_code == 1 and "unknown engine" in bad_engine.stderr
    viewer = siyu("traits", "recompute", env={"SIYU_CLI_USER": "nobody-here"})
    assert viewer.exit_code != 0


def test_traits_clv_prints_the_fit_as_json(engine) -> None:  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

    from tests.integration.test_clv import CAL_END, simulate

    simulate(engine, 1_500, seed=9)
    cal = (CAL_END - timedelta(days=60)).isoformat()
    out = siyu(
        "traits",
        "clv",
        "--calibration-end",
        cal,
        "--reference-date",
        CAL_END.isoformat(),
        "--unit",
        "week",
        "--json",
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert set(data["gamma_gamma"]) == {"p", "q", "v"}
    # v in yuan (the simulation's 1,500 fen), its unit and alpha's named
    assert data["units"] == {"alpha": "week", "v": "yuan"}
    assert 10 < data["gamma_gamma"]["v"] < 20
    assert {"log_likelihood", "customers", "holdout"} <= set(data)
    assert len(data["holdout"]) == 8 and data["holdout"][-1]["frequency"] == "7+"
    text = siyu("traits", "clv", "--calibration-end", cal, "--reference-date", CAL_END.isoformat())
    assert text.exit_code == 0 and "BG/NBD" in text.stdout and "holdout" in text.stdout
    assert " days a=" in text.stdout and " yuan" in text.stdout
    late = siyu(
        "traits",
        "clv",
        "--calibration-end",
        str(date(2030, 1, 1)),
        "--reference-date",
        "2029-01-01",
    )
    assert late.exit_code == 1 and "before the reference date" in late.stderr


def test_tags_from_the_shell(tmp_path: Path) -> None:
    assert siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao").exit_code == 0
    assert siyu("tags", "add-group", "价格敏感度", "--single").exit_code == 0
    assert siyu("tags", "add", "价格敏感度/低").exit_code == 0
    phones = tmp_path / "phones.txt"
    phones.write_text("13812347001\n13800000000\n", encoding="utf-8")
    tagged = siyu("tags", "assign", "价格敏感度/低", "--phones", str(phones))
    assert tagged.exit_code == 0 and "1 customers newly tagged" in tagged.stdout
    assert "13800000000" in tagged.stderr
    bad = siyu("tags", "rule-add", "价格敏感度/低", "--when", '{"kind": "spend"}')
    assert bad.exit_code == 1 and "unknown rule kind" in bad.stderr
    assert siyu("tags", "rule-add", "价格敏感度/低", "--when", "{oops").exit_code == 1
    ok = siyu(
        "tags", "rule-add", "价格敏感度/低", "--when", '{"kind": "total_spend", "min_yuan": 15}'
    )
    assert ok.exit_code == 0, ok.output
    applied = json.loads(siyu("tags", "apply", "--json").stdout)
    assert applied[0]["matched"] == 1
    listed = json.loads(siyu("tags", "list", "--json").stdout)
    assert listed[0]["tags"][0]["customers"] == {"manual": 1, "rule": 1}
    assert siyu("tags", "assign", "价格敏感度/中", "-c", "1").exit_code == 1
    assert siyu("tags", "rule-delete", "1").exit_code == 0
    assert siyu("tags", "rule-delete", "1").exit_code == 1


def test_tags_assign_by_source_from_the_shell(tmp_path: Path) -> None:
    assert siyu("import", "orders", str(tb_file(tmp_path)), "--source", "taobao").exit_code == 0
    assert siyu("tags", "add-group", "渠道").exit_code == 0
    assert siyu("tags", "add", "渠道/淘宝客").exit_code == 0
    out = siyu("tags", "assign", "渠道/淘宝客", "--source", "taobao")
    assert out.exit_code == 0 and "2 customers newly tagged" in out.stdout
