"""The console's templates and scripts keep to what its Content-Security-Policy allows (scripts
from /static only: no inline code, no on*= handlers, no javascript: URLs), and every chart
tooltip — which ECharts renders as HTML — is built by a formatter that escapes (siyu.js)."""

from __future__ import annotations

import re
from pathlib import Path

SIYU = Path(__file__).resolve().parents[2] / "src" / "siyu"
CONSOLE = SIYU / "console"
# the shell's templates and those capabilities keep beside their pages
TEMPLATES = sorted(SIYU.glob("**/templates/*.html"))
SCRIPTS = sorted((CONSOLE / "static").glob("*.js"))


def test_templates_hold_no_inline_script() -> None:
    wrong = []
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<script\b([^>]*)>(.*?)</script>", text, re.S | re.I):
            attrs, body = m.group(1), m.group(2)
            data_block = 'type="application/json"' in attrs
            if (body.strip() and not data_block) or (data_block and "src=" in attrs):
                wrong.append(f"{path.name}: inline script {m.group(0)[:80]!r}")
        for m in re.finditer(r"<[a-z][^>]*\s(on[a-z]+)\s*=", text, re.I):
            wrong.append(f"{path.name}: {m.group(1)}= handler (bind it in a static script)")
        if re.search(r"javascript:", text, re.I):
            wrong.append(f"{path.name}: a javascript: URL")
        if re.search(r"<[a-z][^>]*\sstyle\s*=", text, re.I):
            wrong.append(f"{path.name}: a style= attribute (use a class in siyu.css)")
    assert not wrong, "\n".join(wrong)


def test_every_chart_tooltip_escapes_what_it_shows() -> None:
    """A tooltip left to ECharts' default, or a formatter that does not escape, would put a
    name someone typed into the page as HTML."""
    wrong = []
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"tooltip:\s*\{", text):
            body = _braced(text, m.end() - 1)
            formatter = re.search(r"formatter:\s*(.*)", body, re.S)
            if formatter is None:
                wrong.append(f"{path.name}: a tooltip without a formatter: {body[:60]!r}")
            elif "Siyu.tooltip" not in formatter.group(1) and "esc(" not in formatter.group(1):
                wrong.append(f"{path.name}: a tooltip formatter that does not escape")
        written = re.findall(r"\.(?:inner|outer)HTML\s*=\s*([^;]*)", text)
        if any(w.strip() != '""' for w in written) or "insertAdjacentHTML" in text:
            wrong.append(f"{path.name}: HTML written from a string (build elements instead)")
    assert not wrong, "\n".join(wrong)


def _braced(text: str, start: int) -> str:
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    return text[start:]
