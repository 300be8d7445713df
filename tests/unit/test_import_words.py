"""Refusals of imports that are not raised where they are written — the upload form's,
wrapped with their HTTP status, and the ones a run stores for the console to say later —
have their Chinese too (the general scan sees only ``raise Refusal(...)``)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"


def _templates(path: Path, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in names
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(node.args[0].value)
    return found


def test_upload_and_run_refusals_are_translated() -> None:
    from siyu.i18n import translations
    from siyu.ingest.service import NO_ROWS, STOPPED

    templates = _templates(SRC / "console" / "upload_form.py", {"UploadError"})
    assert len(templates) >= 8
    zh = translations("zh-CN")
    for template in [*templates, STOPPED, NO_ROWS]:
        said = zh.gettext(template)
        assert said != template, template
        fields = {f for _t, f, _s, _c in string.Formatter().parse(template) if f}
        assert fields == {f for _t, f, _s, _c in string.Formatter().parse(said) if f}


def test_a_stored_refusal_is_said_in_chinese() -> None:
    from siyu.console.words import said_in
    from siyu.ingest.service import STOPPED, ImportSummary, refused
    from siyu.refusals import Refusal

    summary = ImportSummary()
    refused(summary, Refusal(STOPPED, row=12, reason="bad byte"))
    assert summary.refused == {"template": STOPPED, "params": {"row": 12, "reason": "bad byte"}}
    again = Refusal(summary.refused["template"], **summary.refused["params"])
    assert said_in("zh-CN", again).startswith("在第 12 行附近停止：bad byte")
    assert said_in("en", again) == summary.error
