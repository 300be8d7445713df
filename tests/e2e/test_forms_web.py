"""Forms and surveys over HTTP: the public page at /f/{slug} on a phone (a device cookie under
/f, escaped markup, the page's token), an answer with an SMS code, a personal survey link from
the member centre, and the hostile side — script in every text, huge values, a form from
elsewhere or without the page's token, another customer's link, a filled honeypot, a closed
form, a draft that is not there, the rate limit's 429 page; the API's 4xx; the console's forms
checked for CSRF and permissions."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from siyu import clock
from tests import forms_world as fw
from tests.centre_world import code_for
from tests.e2e.conftest import declared, login, make_user
from tests.e2e.test_member_centre import sign_in

HOSTILE = "<script>alert(1)</script>"


def _form(slug: str = "spring", fields: Any = None, **kw: Any) -> Any:
    from siyu.db import session_scope

    with session_scope() as s:
        made = fw.form(s, slug, fields, **kw)
        return made.id


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, page[-1500:]
    return found.group(1)


def _rows() -> list[Any]:
    from siyu.db import session_scope
    from siyu.growth.forms.models import FormSubmission

    with session_scope() as s:
        rows = list(s.scalars(sa.select(FormSubmission).order_by(FormSubmission.id)))
        s.expunge_all()
    return rows


def test_a_visitor_answers_with_an_sms_code(client: TestClient, centre: dict[str, Any]) -> None:
    clock.freeze(fw.T0)
    _form()
    page = client.get("/f/spring?utm_source=wechat&utm_campaign=" + "x" * 300 + "&ref=ABCDEFGH")
    assert page.status_code == 200, page.text
    assert "春季新品试用" in page.text and fw.CONSENT in page.text
    assert "siyu_device" in page.headers["set-cookie"] and "Path=/f" in page.headers["set-cookie"]
    assert "no-store" in page.headers["cache-control"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<link rel="stylesheet" href="/static/member.css">' in page.text
    answers = fw.good("13700000999")
    sent = client.post("/f/spring/code", data={**answers, "token": _token(page.text)})
    assert sent.status_code == 200, sent.text
    assert "137****0999" in sent.text, sent.text[-2500:]
    assert (
        ">张敏</textarea>" in sent.text and 'value="干性" checked' in sent.text
    )  # typed answers kept
    code = code_for(centre["gateway"], "13700000999")
    done = client.post(
        "/f/spring",
        data={
            **answers,
            "code": code,
            "token": _token(sent.text),
            "utm_source": "wechat",
            "utm_campaign": "x" * 300,
            "ref": "ABCDEFGH",
        },
    )
    assert done.status_code == 303, done.text[-2000:]
    assert done.headers["location"] == "/f/spring/thanks"
    assert client.get("/f/spring/thanks").status_code == 200
    (row,) = _rows()
    assert row.customer_id and row.nps == 9 and row.consent_version == "2026.1"
    assert row.utm == {"utm_source": "wechat", "utm_campaign": "x" * 100}  # cut to 100
    assert row.ref == "ABCDEFGH"


def test_hostile_input_is_escaped_refused_or_dropped(
    client: TestClient, centre: dict[str, Any]
) -> None:
    clock.freeze(fw.T0)
    _form("hostile", [{"kind": "text", "label": "说明"}, {"kind": "nps", "label": "推荐"}])
    page = client.get("/f/hostile?utm_source=" + HOSTILE + "&t=" + HOSTILE)
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    token = _token(page.text)
    # a personal link that names nobody is refused; script in a text answer is kept as text
    # and shown escaped in the console
    forged = client.post("/f/hostile", data={"q2": "3", "t": HOSTILE, "token": token})
    assert forged.status_code == 403 and HOSTILE not in forged.text
    plain = client.post("/f/hostile", data={"q1": HOSTILE, "q2": "3", "token": token})
    assert plain.status_code == 303, plain.text[-1500:]
    for bad in ({"q2": "11"}, {"q2": "1e1"}, {"q1": "长" * 5000}, {"q2": ["3", "4"] * 500}):
        answer = client.post("/f/hostile", data={**bad, "token": token})
        # a thousand values are over the form parser's limit: 400 before any rule reads them
        assert answer.status_code == (400 if isinstance(bad.get("q2"), list) else 422), bad
        assert answer.status_code == 400 or 'role="alert"' in answer.text
    # a form from elsewhere, no page token, another browser's token
    elsewhere = client.post(
        "/f/hostile", data={"q2": "3", "token": token}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    assert client.post("/f/hostile", data={"q2": "3"}).status_code == 403
    with TestClient(client.app, follow_redirects=False) as other:
        other.get("/f/hostile")
        assert other.post("/f/hostile", data={"q2": "3", "token": token}).status_code == 403
    # the honeypot: thanked, nothing stored
    before = len(_rows())
    trap = client.post("/f/hostile", data={"q2": "3", "token": token, "website": "http://x"})
    assert trap.status_code == 200 and before == len(_rows())
    formula = client.post(
        "/f/hostile", data={"q1": '=HYPERLINK("http://evil","x")', "q2": "3", "token": token}
    )
    assert formula.status_code == 303
    make_user("ops", "operator")
    login(client, "ops")
    console = client.get("/growth/forms/hostile")
    assert console.status_code == 200 and HOSTILE not in console.text
    assert "&lt;script&gt;" in console.text
    sheet = client.get("/growth/forms/hostile/answers.csv")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    assert "'=HYPERLINK" in sheet.text and "\n=HYPERLINK" not in sheet.text
    assert ",=HYPERLINK" not in sheet.text and '"=HYPERLINK' not in sheet.text


def test_closed_draft_and_unknown_forms(client: TestClient) -> None:
    from siyu.db import session_scope
    from siyu.growth.forms.service import form_named, set_status

    clock.freeze(fw.T0)
    _form("survey", fw.SURVEY, kind="survey")
    page = client.get("/f/survey")
    token = _token(page.text)
    with session_scope() as s:
        set_status(s, form_named(s, "survey"), "closed", "t")
    closed = client.get("/f/survey")
    assert closed.status_code == 410 and 'name="token"' not in closed.text
    assert client.post("/f/survey", data={"q1": "9", "token": token}).status_code == 410
    with session_scope() as s:
        set_status(s, form_named(s, "survey"), "draft", "t")
    assert client.get("/f/survey").status_code == 404
    assert client.post("/f/survey", data={"q1": "9", "token": token}).status_code == 404
    for slug in ("nope", "A" * 300, "..%2f..", "-x", HOSTILE):
        assert client.get(f"/f/{slug}").status_code == 404, slug
    assert _rows() == []


def test_the_rate_limit_answers_a_clear_429_page(client: TestClient) -> None:
    clock.freeze(fw.T0)
    _form("busy", fw.SURVEY, kind="survey")
    token = _token(client.get("/f/busy").text)
    statuses = [
        client.post("/f/busy", data={"q1": "8", "token": token}).status_code for _ in range(11)
    ]
    assert statuses == [303] * 10 + [429]
    busy = client.post("/f/busy", data={"q1": "8", "token": token})
    assert busy.status_code == 429 and 'role="alert"' in busy.text
    assert len(_rows()) == 10


def test_a_member_takes_a_survey_from_the_member_centre_by_their_link(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.centre.service import visitor

    clock.freeze(fw.T0)
    _form("care", fw.SURVEY, kind="survey", member_centre=True, once="person")
    sign_in(client, centre, "13912340001")
    listed = client.get("/m/surveys")
    assert listed.status_code == 200, listed.text
    link = re.search(r'href="(/f/care\?t=[^"]+)"', listed.text)
    assert link, listed.text
    url = link.group(1).replace("&amp;", "&")
    page = client.get(url)
    assert page.status_code == 200
    t = url.split("t=", 1)[1]
    done = client.post("/f/care", data={"q1": "10", "t": t, "token": _token(page.text)})
    assert done.status_code == 303, done.text[-1500:]
    (row,) = _rows()
    from siyu.db import session_scope

    with session_scope() as s:
        me = visitor(s, client.cookies.get("siyu_member"))
        assert me is not None and row.customer_id == me.customer_id
    assert "answered" in client.get("/m/surveys").text or "已答" in client.get("/m/surveys").text
    # another customer's link: the signature names this one only
    forged = f"{row.customer_id + 1}." + t.split(".", 1)[1]
    other = client.post("/f/care", data={"q1": "1", "t": forged, "token": _token(page.text)})
    assert other.status_code == 403 and len(_rows()) == 1
    again = client.post("/f/care", data={"q1": "1", "t": t, "token": _token(page.text)})
    assert again.status_code == 409  # one per person
    with TestClient(client.app, follow_redirects=False) as stranger:
        assert stranger.get("/m/surveys").status_code == 303  # to the sign-in


# -- the API ---------------------------------------------------------------------------------------
def _key(*scopes: str) -> dict[str, str]:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _row, secret = create_api_key(s, "forms", list(scopes))
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_builds_lists_and_counts(client: TestClient) -> None:
    clock.freeze(fw.T0)
    key = _key("growth:manage")
    body = {"slug": "api", "title": "问卷", "kind": "survey", "fields": fw.SURVEY}
    made = client.post("/api/v1/growth/forms", headers=key, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "draft" and made.json()["fields"][0]["key"] == "q1"
    assert client.post("/api/v1/growth/forms", headers=key, json=body).status_code == 409
    nested: Any = "x"
    for _ in range(200):
        nested = [nested]
    for bad in (
        {**body, "slug": "Bad Slug"},
        {**body, "title": "长" * 101},
        {**body, "fields": [{"kind": "choice", "label": "x", "options": ["a"]}]},
        {**body, "fields": [{"kind": "html", "label": "x"}]},
        {**body, "fields": [{"kind": "text", "label": "x", "extra": nested}]},
        {**body, "fields": [{"kind": "text", "label": "x"}] * 31},
        {**body, "fields": [{"kind": "consent", "label": "x", "text": "我同意"}]},
        {**body, "actions": ["delete_everyone"]},
        {**body, "brand": "nope"},
        {**body, "brand": "b" * 41},
        {**body, "intro": "x" * 100_000},
    ):
        answer = client.post(
            "/api/v1/growth/forms",
            headers=key,
            json={**bad, "slug": "api2"} if bad.get("slug") != "Bad Slug" else bad,
        )
        assert answer.status_code == 422, (str(bad)[:200], answer.text[:300])
    live = client.post("/api/v1/growth/forms/api/status", headers=key, json={"status": "live"})
    assert live.status_code == 200 and live.json()["status"] == "live"
    assert client.get("/api/v1/growth/forms", headers=key).json()["total"] == 1
    assert client.get("/api/v1/growth/forms/nope", headers=key).status_code == 404
    assert client.get("/api/v1/growth/forms?limit=501", headers=key).status_code == 422
    assert client.get("/api/v1/growth/forms").status_code == 401
    assert client.get("/api/v1/growth/forms", headers=_key("events:write")).status_code == 403
    link = client.get("/api/v1/growth/forms/api/link?customer_id=1", headers=key)
    assert link.status_code == 200 and "/f/api?t=1." in link.json()["link"]
    assert client.get("/api/v1/growth/forms/api/link?customer_id=0", headers=key).status_code == 422
    by_segment = client.get("/api/v1/growth/forms/api/nps?segment_id=999", headers=key)
    assert by_segment.status_code == 200 and by_segment.json()["segment"]["answered"] == 0
    assert client.get("/api/v1/growth/forms/api/nps?segment_id=0", headers=key).status_code == 422
    nps = client.get("/api/v1/growth/forms/api/nps?start=2026-01-01", headers=key)
    assert nps.status_code == 200 and nps.json()["answered"] == 0 and nps.json()["score"] is None
    assert (
        client.get("/api/v1/growth/forms/api/nps?start=1800-01-01", headers=key).status_code == 422
    )
    subs = client.get("/api/v1/growth/forms/api/submissions", headers=key)
    assert subs.status_code == 200 and subs.json() == {"total": 0, "submissions": []}
    for method, path in (
        ("POST", "/api/v1/growth/forms"),
        ("GET", "/api/v1/growth/forms/{slug}"),
        ("PUT", "/api/v1/growth/forms/{slug}"),
        ("POST", "/api/v1/growth/forms/{slug}/status"),
        ("GET", "/api/v1/growth/forms/{slug}/nps"),
    ):
        assert {401, 403, 422} <= declared(client, method, path), path


# -- the console -----------------------------------------------------------------------------------
def test_the_console_builds_a_survey_and_checks_its_forms(client: TestClient) -> None:
    make_user("ops", "operator")
    make_user("guide", "store_guide", "s1")
    csrf = login(client, "ops")
    form = {
        "csrf": csrf,
        "slug": "nps-2026",
        "title": "满意度调查",
        "kind": "survey",
        "once": "person",
        "fields": "nps | 推荐意愿 | 1\nmulti | 关注 | | 保湿、美白\nconsent | 营销短信 | | 我同意接收短信 | v1",
        "actions": "guide_task",
        "member_centre": "1",
    }
    assert client.post("/growth/forms", data={**form, "csrf": "x"}).status_code == 403
    made = client.post("/growth/forms", data=form)
    assert made.status_code == 303, made.text[-1500:]
    assert made.headers["location"] == "/growth/forms/nps-2026?done=saved"
    page = client.get("/growth/forms/nps-2026")
    assert page.status_code == 200 and "满意度调查" in page.text
    bad = client.post("/growth/forms", data={**form, "slug": "other", "fields": "html | x"})
    assert bad.status_code == 422 and 'data-testid="error"' in bad.text
    assert (
        client.post(
            "/growth/forms/nps-2026/status", data={"csrf": "x", "status": "live"}
        ).status_code
        == 403
    )
    opened = client.post("/growth/forms/nps-2026/status", data={"csrf": csrf, "status": "live"})
    assert opened.status_code == 303
    assert client.get("/f/nps-2026").status_code == 200
    assert client.get("/growth/forms/nope").status_code == 404
    listing = client.get("/growth/forms")
    assert listing.status_code == 200 and "/f/nps-2026" in listing.text
    assert client.get("/growth/referrals").status_code == 200
    with TestClient(client.app, follow_redirects=False) as guide:
        login(guide, "guide")
        assert guide.get("/growth/forms").status_code == 403
        assert guide.post("/growth/forms", data=form).status_code == 403


# -- the command line ------------------------------------------------------------------------------
def test_the_command_line_creates_lists_shows_closes_and_counts(tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from siyu.cli import app

    clock.freeze(fw.T0)
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps(fw.SURVEY, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    args = ["growth", "forms", "create", "cli-survey", "--title", "问卷", "--fields", str(fields)]
    made = runner.invoke(app, [*args, "--kind", "survey", "--live"])
    assert made.exit_code == 0, made.output
    assert "cli-survey: live" in made.output
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "another form" in again.output
    fields.write_text("[[[[", encoding="utf-8")
    broken = runner.invoke(app, [*args[:3], "other", *args[4:]])
    assert broken.exit_code != 0 and "not JSON" in broken.output
    from siyu.db import session_scope
    from siyu.growth.forms.service import form_named
    from siyu.growth.forms.submit import submit

    for score in ("10", "9", "2"):  # each committed: the limits count on a connection of their own
        with session_scope() as s:
            submit(s, form_named(s, "cli-survey"), fw.entry({"q1": score}))
    listed = runner.invoke(app, ["growth", "forms", "list", "--limit", "5"])
    assert listed.exit_code == 0 and json.loads(listed.output)["total"] == 1
    assert runner.invoke(app, ["growth", "forms", "list", "--limit", "0"]).exit_code != 0
    shown = runner.invoke(app, ["growth", "forms", "show", "cli-survey"])
    assert shown.exit_code == 0 and len(json.loads(shown.output)["submissions"]) == 3
    nps = runner.invoke(app, ["growth", "forms", "nps", "cli-survey", "--start", "2026-03-01"])
    assert nps.exit_code == 0, nps.output
    got = json.loads(nps.output)
    assert (got["score"], got["promoters"], got["detractors"]) == (33.3, 2, 1)
    assert runner.invoke(app, ["growth", "forms", "nps", "cli-survey", "--start", "x"]).exit_code
    closed = runner.invoke(app, ["growth", "forms", "close", "cli-survey"])
    assert closed.exit_code == 0 and "closed" in closed.output
    assert runner.invoke(app, ["growth", "forms", "show", "nope"]).exit_code != 0
