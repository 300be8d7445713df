"""One answer to every refusal: the API says it with its class's status in the language
``Accept-Language`` asks for (English without one), the body ``{"detail": …}`` as always; the
CLI prints it on stderr and exits non-zero (4 when a permission is missing)."""

from __future__ import annotations

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.cli import app

runner = CliRunner()
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def _key(*scopes: str) -> dict[str, str]:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "refusals", list(scopes))
    return {"Authorization": f"Bearer {secret}"}


def test_a_refusal_is_answered_by_its_class_in_the_readers_language(client: TestClient) -> None:
    h = _key("customers:read", "customers:export", "segments:write", "campaigns:write")

    missing = client.get("/api/v1/segments/999999", headers=h)
    assert (missing.status_code, missing.json()) == (404, {"detail": "no segment 999999"})
    said = client.get("/api/v1/segments/999999", headers={**h, **ZH})
    assert (said.status_code, said.json()) == (404, {"detail": "没有编号为 999999 的分群。"})

    rule = {"name": "名单", "rule": "city = 上海"}
    made = client.post("/api/v1/segments", headers=h, json=rule)
    assert made.status_code == 201, made.text
    again = client.post("/api/v1/segments", headers=h, json=rule)
    assert (again.status_code, again.json()) == (
        409,
        {"detail": "a segment named '名单' already exists"},
    )
    again = client.post("/api/v1/segments", headers={**h, **ZH}, json=rule)
    assert again.json() == {"detail": "已有名为 '名单' 的分群。"}

    typo = client.post(
        "/api/v1/segments", headers={**h, **ZH}, json={"name": "x", "rule": "cty = 上海"}
    )
    assert typo.status_code == 422
    assert typo.json()["detail"]["path"] == "field" and "cty" in typo.json()["detail"]["reason"]

    seg = made.json()["id"]
    unmask = client.get(f"/api/v1/segments/{seg}/export?unmask=true", headers=h)
    assert (unmask.status_code, unmask.json()) == (
        403,
        {"detail": "unmasked export needs the customers:unmask permission"},
    )
    unmask = client.get(f"/api/v1/segments/{seg}/export?unmask=true", headers={**h, **ZH})
    assert unmask.json() == {"detail": "导出未脱敏数据需要 customers:unmask 权限。"}

    nobody = client.post("/api/v1/campaigns/999999/approve", headers={**h, **ZH})
    assert (nobody.status_code, nobody.json()) == (404, {"detail": "没有编号为 999999 的活动。"})


def test_approving_needs_the_permission_the_service_names(client: TestClient) -> None:
    """The rule is written once, in the service: the API, the console and the CLI only pass
    who acts."""
    from siyu.db import session_scope
    from siyu.reach.models import Campaign

    with session_scope() as s:
        campaign = Campaign(name="双12", channel="sms", status="awaiting_approval", created_by="a")
        s.add(campaign)
        s.flush()
        cid = campaign.id
    h = _key("customers:read", "campaigns:write")
    refused = client.post(f"/api/v1/campaigns/{cid}/approve", headers=h)
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "permission campaigns:approve required"},
    )
    refused = client.post(f"/api/v1/campaigns/{cid}/approve", headers={**h, **ZH})
    assert refused.json() == {"detail": "需要 campaigns:approve 权限。"}
    late = client.post(f"/api/v1/campaigns/{cid}/pause", headers={**h, **ZH})
    assert late.status_code == 409


def test_the_cli_says_a_refusal_and_exits_non_zero() -> None:
    shown = runner.invoke(app, ["segments", "show", "999999"])
    assert shown.exit_code == 1 and "no segment 999999" in shown.stderr
    assert "Traceback" not in shown.output
    assert runner.invoke(app, ["tags", "add-group", "肤质"]).exit_code == 0
    twice = runner.invoke(app, ["tags", "add-group", "肤质"])
    assert twice.exit_code == 1 and "tag group '肤质' already exists" in twice.stderr


def test_a_missing_permission_exits_4() -> None:
    from siyu.clikit import RefusalsSaid
    from siyu.refusals import NotPermitted

    tiny = typer.Typer(cls=RefusalsSaid)

    @tiny.command()
    def approve() -> None:
        raise NotPermitted("campaigns:approve")

    @tiny.command()
    def other() -> None:  # two commands: a group, as the real root
        pass

    out = runner.invoke(tiny, ["approve"])
    assert out.exit_code == 4 and "permission campaigns:approve required" in out.stderr
