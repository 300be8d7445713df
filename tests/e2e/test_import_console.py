"""The import page (导入数据): an operator uploads an export, the worker imports it, the page
shows the summary and serves the rejects; and the upload route holds against what a hostile
or clumsy client sends (no CSRF, a guide, a file past the limit, a cut-off upload, names that
are paths or markup, empty files)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests import platform_files as pf
from tests.e2e.conftest import login, make_user
from tests.xlsx_files import write_xlsx


def _tb_csv(bad: bool = True) -> bytes:
    rows = [
        pf.taobao_row("8001", "tb_a", "13812348001", "10.00"),
        pf.taobao_row("8002", "tb_b", "13812348002", "20.00"),
    ]
    if bad:
        bad_row = pf.taobao_row("8003", '=HYPERLINK("http://x.example","点我")', "", "oops")
        rows.append(bad_row)
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(pf.TAOBAO_HEADER)
    w.writerows(rows)
    return out.getvalue().encode("gbk")


def uploads_dir() -> Path:
    from siyu.config import get_settings

    return get_settings().data_dir / "uploads"


def stored_uploads() -> list[Path]:
    folder = uploads_dir()
    return sorted(folder.iterdir()) if folder.is_dir() else []


def post(
    client: TestClient,
    csrf: str | None,
    file: tuple[str, bytes] | None,
    what: str = "orders:taobao",
    **fields: Any,
) -> Any:
    data = {"what": what, **fields}
    if csrf is not None:
        data = {"csrf": csrf, **data}
    files = {"file": (file[0], file[1], "application/octet-stream")} if file else None
    return client.post("/imports", data=data, files=files)


def run_queued_imports() -> int:
    """What the worker does with queued uploads."""
    from siyu.db import new_session
    from siyu.jobs.models import Job
    from siyu.jobs.service import run_job

    n = 0
    with new_session() as s:
        for job in s.scalars(
            sa.select(Job).where(Job.kind == "imports.upload", Job.status == "queued")
        ).all():
            job.attempts += 1
            run_job(s, job)
            n += 1
    return n


@pytest.fixture()
def operator(client: TestClient) -> str:
    make_user("yunying", "operator")
    return login(client, "yunying")


def test_upload_import_summary_and_rejects(client: TestClient, operator: str) -> None:
    page = client.get("/imports")
    assert page.status_code == 200 and 'data-testid="nav-imports"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert 'value="orders:taobao"' in page.text and 'value="customers:pos"' in page.text
    assert 'src="/static/imports.js"' in page.text and "onclick" not in page.text

    r = post(client, operator, ("淘宝订单 11月.csv", _tb_csv()))
    assert r.status_code == 303, r.text
    run_url = r.headers["location"]
    run_id = int(run_url.rsplit("/", 1)[1])
    [stored] = stored_uploads()
    assert re.fullmatch(r"[0-9a-f]{32}\.csv", stored.name)
    queued = client.get(run_url)
    assert "排队中" in queued.text and 'hx-trigger="every 3s"' in queued.text
    jobs = client.get("/jobs")
    assert f'href="/imports/{run_id}"' in jobs.text and "淘宝订单 11月.csv" in jobs.text

    assert run_queued_imports() == 1
    assert stored_uploads() == []  # deleted once imported
    done = client.get(run_url)
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    text = done.text
    assert 'data-status="done"' in text and "hx-trigger" not in text  # stops polling
    assert re.search(r'data-testid="n-read">3<', text) and re.search(
        r'data-testid="n-inserted">2<', text
    )
    assert re.search(r'data-testid="n-rejected">1<', text) and "amount is not a number" in text
    assert 'data-testid="rejects-link"' in text

    got = client.get(f"/imports/{run_id}/rejects.csv")
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    assert f'filename="import-{run_id}-rejects.csv"' in got.headers["content-disposition"]
    body = got.content.decode("utf-8-sig")
    assert "8003" in body and "'=HYPERLINK" in body  # neutralised for spreadsheets
    assert ",=HYPERLINK" not in body and '"=HYPERLINK' not in body

    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:
        actions = set(s.scalars(sa.select(AuditLog.action)))
    assert {"import.upload.orders", "import.rejects_download"} <= actions


def test_a_workbook_and_a_mapping_file_from_the_console(
    client: TestClient, operator: str, tmp_path: Path
) -> None:
    book = write_xlsx(
        tmp_path / "members.xlsx",
        [
            ["会员卡号", "手机号", "姓名"],
            ["M1", 13912345678.0, "李娜"],
            ["M2", 13912345679.0, "王芳"],
        ],
    )
    r = post(client, operator, ("会员.xlsx", book.read_bytes()), what="customers:pos")
    assert r.status_code == 303, r.text
    mapping = json.dumps({"单号": "order_id", "手机": "phone", "时间": "paid_at", "金额": "amount"})
    csv_text = "单号,手机,时间,金额\nK1,13812345678,2026-01-01 10:00:00,88\n"
    r2 = client.post(
        "/imports",
        data={"csrf": operator, "what": "orders:csv"},
        files={
            "mapping": ("map.json", mapping.encode(), "application/json"),
            "file": ("own.csv", csv_text.encode(), "text/csv"),
        },
    )
    assert r2.status_code == 303, r2.text
    assert run_queued_imports() == 2
    members = client.get(r.headers["location"]).text
    assert re.search(r'data-testid="n-inserted">2<', members) and "xlsx" in members
    own = client.get(r2.headers["location"]).text
    assert re.search(r'data-testid="n-inserted">1<', own), own


def test_a_file_that_cannot_be_imported_fails_its_run_in_chinese(
    client: TestClient, operator: str
) -> None:
    r = post(client, operator, ("wrong.csv", "甲,乙\n1,2\n".encode()))
    assert r.status_code == 303
    run_queued_imports()
    page = client.get(r.headers["location"]).text
    assert 'data-status="failed"' in page and "缺少「淘宝 千牛 订单报表" in page
    assert stored_uploads() == []
    client.cookies.set("siyu_lang", "en")
    assert "missing required column(s)" in client.get(r.headers["location"]).text


def test_refusals_keep_nothing(client: TestClient, operator: str) -> None:
    """Bad choices, empty files and names that are not exports are refused with the reason in
    Chinese, and no file is left behind."""
    cases = [
        (post(client, operator, ("x.csv", b"")), "文件是空的"),
        (post(client, operator, ("setup.exe", b"MZ")), "只能导入"),
        (post(client, operator, ("../../etc/passwd", b"root:x:0:0")), "只能导入"),
        (post(client, operator, ("", b"")), "请选择要上传的导出文件"),
        (post(client, operator, ("x.csv", _tb_csv()), what="orders:amazon"), "没有来源"),
        (post(client, operator, ("x.csv", _tb_csv()), what="nothing"), "请选择文件内容"),
        (post(client, operator, ("x.csv", _tb_csv()), brand="nope"), "没有编码为"),
        (client.post("/imports", data={"csrf": operator, "what": "orders:csv"}), "multipart"),
    ]
    for response, words in cases:
        assert response.status_code == 400, response.text[:300]
        assert words in response.text, (words, response.text[-800:])
    assert stored_uploads() == []
    bad_map = client.post(
        "/imports",
        data={"csrf": operator, "what": "orders:csv"},
        files={
            "mapping": ("map.json", b'{"a": "no_such_field"}', "application/json"),
            "file": ("x.csv", b"a\n1\n", "text/csv"),
        },
    )
    assert bad_map.status_code == 400 and "no_such_field" in bad_map.text
    assert stored_uploads() == []


def test_names_are_text_never_paths_or_markup(client: TestClient, operator: str) -> None:
    from siyu.config import get_settings

    evil = "<script>alert(1)</script>../../x.csv"
    r = post(client, operator, ("../../<img src=x onerror=alert(1)>.csv", _tb_csv(False)))
    r2 = post(client, operator, (evil, _tb_csv(False)))
    assert r.status_code == r2.status_code == 303
    assert {p.parent for p in stored_uploads()} == {uploads_dir()}
    assert not (get_settings().data_dir.parent / "x.csv").exists()
    for response in (r, r2):
        page = client.get(response.headers["location"]).text
        assert "<img src=x" not in page and "<script>alert" not in page
    listing = client.get("/imports").text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in listing and "x.csv" in listing


def test_csrf_and_permission_come_before_any_byte_is_kept(
    client: TestClient, operator: str
) -> None:
    wrong = post(client, "not-the-token", ("x.csv", _tb_csv()))
    missing = post(client, None, ("x.csv", _tb_csv()))
    assert wrong.status_code == missing.status_code == 403
    assert "CSRF" in wrong.text
    # the token sent after the file is too late: nothing is written before it is checked
    late = client.post(
        "/imports",
        files=[
            ("file", ("x.csv", _tb_csv(), "text/csv")),
            ("csrf", (None, operator)),
            ("what", (None, "orders:taobao")),
        ],
    )
    assert late.status_code == 403
    header = client.post(
        "/imports",
        headers={"X-CSRF-Token": operator},
        files=[("file", ("x.csv", _tb_csv(), "text/csv")), ("what", (None, "orders:taobao"))],
    )
    assert header.status_code == 303  # the script sends the token as a header
    assert len(stored_uploads()) == 1

    make_user("daogou", "store_guide", store_code="s1")
    guide = TestClient(client.app, follow_redirects=False)
    csrf = login(guide, "daogou")
    assert guide.get("/imports").status_code == 403
    assert post(guide, csrf, ("x.csv", _tb_csv())).status_code == 403
    assert guide.get("/imports/1").status_code == 403
    assert guide.get("/imports/1/rejects.csv").status_code == 403
    assert len(stored_uploads()) == 1
    anonymous = TestClient(client.app, follow_redirects=False)
    out = post(anonymous, None, ("x.csv", _tb_csv()))
    assert out.status_code == 303 and out.headers["location"].startswith("/login")


@pytest.fixture()
def small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    from siyu.config import reset_settings

    monkeypatch.setenv("SIYU_UPLOAD_MAX_BYTES", str(256 * 1024))
    reset_settings()
    yield 256 * 1024
    reset_settings()


def _multipart(csrf: str, size: int, boundary: str = "siyu-test-boundary") -> Iterator[bytes]:
    """A form whose file is ``size`` bytes, generated as it is sent (no length known)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="what"\r\n\r\norders:csv\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"'
        "\r\nContent-Type: text/csv\r\n\r\n"
    ).encode()
    yield head
    sent = 0
    line = b"A1,13812345678,2026-01-01 10:00:00,5\n"
    while sent < size:
        piece = (line * 2000)[: size - sent]
        sent += len(piece)
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def test_a_file_past_the_limit_is_refused_while_streaming(
    client: TestClient, small_limit: int
) -> None:
    from siyu.app import create_app

    make_user("yunying2", "operator")
    with TestClient(create_app(), follow_redirects=False) as c:
        csrf = login(c, "yunying2")
        ctype = {"Content-Type": "multipart/form-data; boundary=siyu-test-boundary"}
        over = c.post("/imports", content=_multipart(csrf, small_limit + 1), headers=ctype)
        assert over.status_code == 413, over.text[:300]
        assert "超过上传上限 256 KiB" in over.text
        assert stored_uploads() == []  # the partial file is gone
        fits = c.post("/imports", content=_multipart(csrf, small_limit), headers=ctype)
        assert fits.status_code == 303, fits.text[:300]
        assert len(stored_uploads()) == 1 and stored_uploads()[0].stat().st_size == small_limit
        # a declared length past the limit is refused before the body is read
        declared = c.post(
            "/imports",
            content=b"x" * 10,
            headers={**ctype, "Content-Length": str(small_limit * 4)},
        )
        assert declared.status_code == 413


def test_only_the_upload_route_takes_more_than_two_mebibytes(
    client: TestClient, operator: str
) -> None:
    three = 3 * 1024 * 1024
    body = b"order_id,phone,paid_at,amount\n" + b"A,13812345678,2026-01-01 10:00:00,5\n" * (
        three // 36 + 1
    )
    assert len(body) > three
    r = post(client, operator, ("big.csv", body), what="orders:csv")
    assert r.status_code == 303, r.text[:300]
    elsewhere = client.post("/login", content=b"x" * three)
    assert elsewhere.status_code == 413
    api = client.post("/api/events", content=b"x" * three, headers={"X-CSRF-Token": operator})
    assert api.status_code == 413


def test_an_upload_cut_off_midway_leaves_no_file(client: TestClient, operator: str) -> None:
    """The client goes away in the middle of the file: the partial file is removed."""
    app = client.app
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    chunks = list(_multipart(operator, 3 * 1024 * 1024))[:-2]  # never finished
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks] + [
        {"type": "http.disconnect"}
    ]
    seen_partial: list[int] = []

    async def receive() -> dict[str, Any]:
        if len(messages) == 1:  # about to disconnect: the partial file exists now
            seen_partial.append(sum(p.stat().st_size for p in stored_uploads()))
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/imports",
        "raw_path": b"/imports",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"cookie", cookie.encode()),
            (b"content-type", b"multipart/form-data; boundary=siyu-test-boundary"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert seen_partial and seen_partial[0] > 1024 * 1024  # it was being written
    assert stored_uploads() == []
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400


def test_a_run_whose_file_is_gone_fails_and_leftovers_are_swept(
    client: TestClient, operator: str
) -> None:
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.ingest.uploads import sweep

    r = post(client, operator, ("x.csv", _tb_csv()))
    [stored] = stored_uploads()
    stored.unlink()
    run_queued_imports()
    page = client.get(r.headers["location"]).text
    assert 'data-status="failed"' in page and "上传的文件已不在服务器上" in page

    kept = post(client, operator, ("y.csv", _tb_csv()))  # queued: its file stays
    assert kept.status_code == 303
    folder = uploads_dir()
    stray = folder / ("0" * 32 + ".csv")
    stray.write_bytes(b"left by a broken upload")
    old = time.time() - 7200
    for path in folder.iterdir():
        os.utime(path, (old, old))
    with session_scope() as s:
        assert sweep(s, get_settings()) == 1
    assert not stray.exists() and len(stored_uploads()) == 1


def test_only_the_runs_own_rejects_file_is_served(client: TestClient, operator: str) -> None:
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.ingest.models import ImportRun

    outside = get_settings().data_dir.parent / "secret.csv"
    outside.write_text("not for the console\n")
    with session_scope() as s:
        run = ImportRun(
            kind="orders",
            source="csv",
            file_name="cli.csv",
            status="done",
            actor="cli",
            stats={},
            rejects_path=str(outside),
        )
        s.add(run)
        s.flush()
        run_id = run.id
    assert client.get(f"/imports/{run_id}/rejects.csv").status_code == 404
    assert client.get("/imports/999999/rejects.csv").status_code == 404
    assert client.get("/imports/999999").status_code == 404


def test_malformed_forms_are_refused_never_a_server_error(
    client: TestClient, operator: str
) -> None:
    """Forms no browser sends: garbage, a boundary longer than the parser takes, a huge part
    header, a hundred fields, two files, a form cut off before its end."""
    b = "b" * 60
    field = 'Content-Disposition: form-data; name="{}"'
    token = f"--{b}\r\n{field.format('csrf')}\r\n\r\n{operator}\r\n"
    a_file = 'Content-Disposition: form-data; name="file"; filename="a{}.csv"'
    cases = [
        (b, b"\x00\xff" * 1000, "表单无法读取"),
        ("x" * 5000, f"--{'x' * 5000}--\r\n".encode(), "表单无法读取"),
        (
            b,
            f"--{b}\r\n{field.format('csrf')}\r\nX-Big: {'a' * 100_000}\r\n\r\n".encode(),
            "表单无法读取",
        ),
        (
            b,
            "".join(f"--{b}\r\n{field.format(i)}\r\n\r\nv\r\n" for i in range(100)).encode(),
            "表单字段太多",
        ),
        (
            b,
            (
                token
                + "".join(f"--{b}\r\n{a_file.format(i)}\r\n\r\norder_id\n1\r\n" for i in range(2))
                + f"--{b}--\r\n"
            ).encode(),
            "每次只能上传一个导出文件",
        ),
        (b, (token + f"--{b}\r\n{a_file.format(1)}\r\n\r\norder_id\n1\n").encode(), "上传中断"),
    ]
    for boundary, body, words in cases:
        r = client.post(
            "/imports",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 400 and words in r.text, (words, r.status_code, r.text[:200])
    assert stored_uploads() == []
