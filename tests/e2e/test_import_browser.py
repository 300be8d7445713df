"""The import page in a real browser: an operator uploads a small CSV (with the page's script
sending it and showing progress), follows the import on its page and on the jobs page, reads
the summary and downloads the rejects; on a phone 375 px wide nothing overflows."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_browser import (  # noqa: F401 - fixtures and the skip marker
    Page,
    _login,
    _shot,
    expect,
    page,
    pytestmark,
    siyu_url,
)
from tests.e2e.test_import_console import _tb_csv, run_queued_imports


def _fits(tab: Page, what: str) -> None:
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px wider than the phone"


def test_an_operator_uploads_an_export_and_reads_its_summary(
    page: Page,  # noqa: F811 - the browser fixture
    tmp_path: Path,
) -> None:
    from tests.e2e.conftest import make_user

    make_user("yunying", "operator")
    _login(page, "yunying")
    page.get_by_test_id("nav-imports").click()
    page.wait_for_url("**/imports")
    expect(page.locator("h1")).to_have_text("导入数据")
    export = tmp_path / "淘宝订单.csv"
    export.write_bytes(_tb_csv())
    page.get_by_test_id("upload-what").select_option("orders:taobao")
    page.get_by_test_id("upload-file").set_input_files(str(export))
    _shot(page, tmp_path, "import-form")
    page.get_by_test_id("upload-submit").click()
    page.wait_for_url("**/imports/*")
    expect(page.get_by_test_id("run-status")).to_have_text("排队中")
    expect(page.locator("h1")).to_contain_text("淘宝订单.csv")

    page.goto("/jobs")
    expect(page.get_by_test_id("jobs-imports")).to_contain_text("淘宝订单.csv")
    expect(page.get_by_test_id("jobs-imports")).to_contain_text("排队中")
    page.get_by_test_id("jobs-imports").get_by_role("link", name="淘宝订单.csv").click()
    page.wait_for_url("**/imports/*")

    assert run_queued_imports() == 1  # the worker takes it up; the page notices by itself
    expect(page.get_by_test_id("run-status")).to_have_text("完成", timeout=20_000)
    expect(page.get_by_test_id("n-inserted")).to_have_text("2")
    expect(page.get_by_test_id("n-rejected")).to_have_text("1")
    expect(page.get_by_test_id("run-reasons")).to_contain_text("amount is not a number")
    _shot(page, tmp_path, "import-summary")
    with page.expect_download() as download:
        page.get_by_test_id("rejects-link").click()
    saved = download.value.path()
    text = Path(saved).read_text(encoding="utf-8-sig")
    assert "8003" in text and "'=HYPERLINK" in text

    # a phone held upright: the form and the summary fit its width
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    expect(page.get_by_test_id("n-inserted")).to_have_text("2")
    _fits(page, "the import's summary")
    _shot(page, tmp_path, "import-summary-phone")
    page.goto("/imports")
    expect(page.get_by_test_id("recent-imports")).to_contain_text("淘宝订单.csv")
    _fits(page, "the import page")
    _shot(page, tmp_path, "import-form-phone")


def test_a_refused_upload_is_said_on_the_page(
    page: Page,  # noqa: F811 - the browser fixture
    tmp_path: Path,
) -> None:
    """An empty file: the script shows the page's own refusal, in Chinese, and stays."""
    from tests.e2e.conftest import make_user

    make_user("yunying", "operator")
    _login(page, "yunying")
    page.goto("/imports")
    empty = tmp_path / "空.csv"
    empty.write_bytes(b"")
    page.get_by_test_id("upload-file").set_input_files(str(empty))
    page.get_by_test_id("upload-submit").click()
    expect(page.get_by_test_id("upload-error")).to_have_text("文件是空的（0 字节）。")
    assert page.url.endswith("/imports")
    expect(page.get_by_test_id("upload-submit")).to_be_enabled()
