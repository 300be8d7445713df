"""Reference pages generated from the code, so they cannot drift: settings and import formats.

`python -m siyu.docsgen` rewrites docs/settings.md and docs/import-formats.md; a test fails
when the committed pages differ from what the code says.
"""

from __future__ import annotations

from pathlib import Path

from siyu.config import Settings
from siyu.ingest.formats import FORMATS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def settings_md() -> str:
    lines = [
        "# 配置项 Settings",
        "",
        "Generated from `siyu/config.py` by `python -m siyu.docsgen`; do not edit by hand.",
        "Every setting is an environment variable with the prefix `SIYU_`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = getattr(default, "value", default)
        lines.append(f"| `SIYU_{name.upper()}` | `{shown}` | {field.description} |")
    return "\n".join(lines) + "\n"


def formats_md() -> str:
    lines = [
        "# 导入格式 Import formats",
        "",
        "Generated from `siyu/ingest/formats.py` by `python -m siyu.docsgen`; do not edit by hand.",
        "",
        "Each Siyu field is read from the first of its headers found in the file. A mapping file",
        '(`--mapping map.json`, a JSON object `{"file header": "siyu field"}`) renames anything else.',
        "Files may be UTF-8 (with or without BOM), GBK/GB18030 or UTF-16, comma or tab separated,",
        "or Excel/WPS workbooks (.xlsx, .xls: the first visible sheet with data), from the CLI",
        "and from the console's import page alike.",
        "Amounts are yuan (`¥1,299.00` is fine) and are stored as fen; times without a zone are",
        "Beijing time. Masked phones (`138****1234`), Excel-mangled numbers (`1.38E+10`) and",
        "placeholders (`null`, `0`, `-1`) never become identities. An `openid` belongs to one",
        "official account: the row's `oa_appid` names it, else `--oa-appid`, else",
        "`SIYU_OA_APPID`; a row whose openid has no AppID keeps its other identities.",
        "",
    ]
    for (kind, source), fmt in sorted(FORMATS.items()):
        lines += [
            f"## `siyu import {kind} FILE --source {source}` — {fmt.title}",
            "",
            _row_note(kind, fmt.rows),
            "",
            "| Siyu field | file headers | required |",
            "|---|---|---|",
        ]
        for field_name, headers in fmt.columns.items():
            need = ""
            for group in fmt.required:
                if field_name in group:
                    need = "yes" if len(group) == 1 else "one of " + " / ".join(group)
            lines.append(f"| `{field_name}` | {' / '.join(headers)} | {need} |")
        if fmt.statuses and source != "csv":
            lines += ["", "Status values are mapped as in the shared Chinese status table below."]
        lines.append("")
    from siyu.ingest.formats import CN_STATUS, EN_STATUS
    from siyu.ingest.values import DND_NO, DND_YES

    lines += [
        "## 免打扰 Do-not-disturb column",
        "",
        "A member list's `do_not_disturb` column (`免打扰` / `是否免打扰`) sets do-not-disturb: the",
        "customer is then sent no marketing on any channel. An empty cell says nothing.",
        "",
        f"- sets it: {' / '.join(sorted(DND_YES))}",
        f"- clears it: {' / '.join(sorted(DND_NO))} — only where an import set it; a",
        "  do-not-disturb recorded by staff or chosen by the member stays until they change it",
        "- anything else rejects the row (it is listed in the rejects file)",
        "",
        "## 营销授权 Consent columns",
        "",
        "`sms_consent` / `email_consent` grant or withdraw marketing consent, and a grant counts only",
        "with `consent_evidence` (what the customer signed or ticked). `consent_at` is when the",
        "customer said it: the newer statement wins, and a grant without `consent_at` never",
        "replaces a recorded withdrawal (the file may be older than the customer's no).",
        "",
    ]

    lines += ["## 订单状态 Order status values", "", "| export value | Siyu status |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in {**CN_STATUS, **EN_STATUS}.items()]
    return "\n".join(lines) + "\n"


def _row_note(kind: str, rows: str) -> str:
    if kind == "customers":
        return "One row per customer."
    if rows == "order":
        return "One row per order."
    return "One row per SKU line; rows of one order sit together and repeat the order columns."


def capabilities_md() -> str:
    """One row per capability, from the manifests (``siyu.capabilities``)."""
    from siyu.capabilities import CAPABILITIES, PLATFORM
    from siyu.reactions import Topic

    lines = [
        "# 功能模块 Capabilities",
        "",
        "Generated from the manifests listed in `siyu/capabilities.py` by "
        "`python -m siyu.docsgen`; do not edit by hand. In dependency order: each capability "
        "uses only those above it.",
        "",
        "| capability | what it holds | brings |",
        "|---|---|---|",
    ]
    kinds = (
        ("routers", "API"),
        ("pages", "pages"),
        ("cli", "commands"),
        ("tasks", "jobs"),
        ("pumps", "pumps"),
        ("erasers", "erasure"),
        ("exporters", "data export"),
        ("segment_fields", "segment fields"),
        ("copied_tables", "analytical copy"),
        ("metrics", "metrics"),
        ("template_variables", "template variables"),
        ("channels", "channels"),
        ("middleware", "callback URL"),
    )
    for cap in CAPABILITIES:
        brings = [label for kind, label in kinds if getattr(cap, kind)]
        brings += [f"hears `{topic}`" for topic, _ref in cap.subscribers]
        name = f"`{cap.name}`" + (" (platform)" if cap.name in PLATFORM else "")
        lines.append(f"| {name} | {cap.summary} | {', '.join(brings) or '—'} |")
    lines += ["", "Reactions a capability can publish (`siyu.reactions.Topic`):", ""]
    lines += [f"- `{topic}`" for topic in Topic]
    lines += [
        "",
        "Permissions, as the capabilities declare them (administrators hold all of them):",
        "",
        "| permission | capability | what it allows | roles by default | API keys |",
        "|---|---|---|---|---|",
    ]
    for cap in CAPABILITIES:
        for perm in cap.permissions:
            roles = ", ".join(sorted(perm.roles)) or "—"
            key = "yes" if perm.api_key else "—"
            lines.append(f"| `{perm}` | `{cap.name}` | {perm.label} | {roles} | {key} |")
    return "\n".join(lines) + "\n"


PAGES = {
    "settings.md": settings_md,
    "import-formats.md": formats_md,
    "capabilities.md": capabilities_md,
}


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    for name, render in PAGES.items():
        (DOCS / name).write_text(render(), encoding="utf-8")
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
