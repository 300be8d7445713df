"""`siyu import orders|customers FILE --source …`: thin; the work is in ingest.orders/customers.

Exit status: 0 when the file was processed (rejects are reported, not fatal); 1 when the command
could not run or nothing could be written; 3 with --strict when any row was rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from siyu.clikit import cli_actor, echo_json, fail
from siyu.ingest.service import ImportSummary

app = typer.Typer(help="Import orders and customers from platform exports.", no_args_is_help=True)
console = Console(stderr=True)

FILE_HELP = "The export file: CSV (UTF-8 or GBK) or an Excel/WPS workbook (.xlsx, .xls)."
SOURCE_HELP = (
    "Export format: taobao, tmall, jd, youzan, douyin, pos or csv (see docs/import-formats.md)."
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="import")


@app.command("orders")
def orders(
    file: Path = typer.Argument(..., help=FILE_HELP),
    source: str = typer.Option(..., "--source", "--platform", "-s", help=SOURCE_HELP),
    mapping: Path | None = typer.Option(None, "--mapping", help="JSON: file header → Siyu field."),
    brand: str | None = typer.Option(None, "--brand", help="Brand code (default: the only one)."),
    shop: str = typer.Option("", "--shop", help="Shop name, when the export has no shop column."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where to write rejected rows."),
    strict: bool = typer.Option(False, "--strict", help="Exit 3 if any row was rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import an order export. Batches commit one by one; re-run the same command to resume."""
    from siyu.ingest.orders import import_orders

    _run(
        lambda engine, settings, progress: import_orders(
            engine,
            settings,
            file,
            source,
            actor=cli_actor(),
            brand=brand,
            shop=shop,
            mapping_path=mapping,
            rejects_path=rejects,
            progress=progress,
        ),
        file,
        strict,
        as_json,
        "orders",
    )


@app.command("customers")
def customers(
    file: Path = typer.Argument(..., help="The member/customer export. " + FILE_HELP),
    source: str = typer.Option(
        ..., "--source", "--platform", "-s", help="csv, youzan, pos or taobao."
    ),
    mapping: Path | None = typer.Option(None, "--mapping", help="JSON: file header → Siyu field."),
    brand: str | None = typer.Option(None, "--brand", help="Brand code (default: the only one)."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where to write rejected rows."),
    strict: bool = typer.Option(False, "--strict", help="Exit 3 if any row was rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    oa_appid: str | None = typer.Option(
        None,
        "--oa-appid",
        help="AppID of the official account the openid column belongs to, for rows without an "
        "oa_appid column (default: SIYU_OA_APPID).",
    ),
) -> None:
    """Import a customer list; consent is taken only from explicit columns with evidence."""
    from siyu.ingest.customers import import_customers

    _run(
        lambda engine, settings, progress: import_customers(
            engine,
            settings,
            file,
            source,
            actor=cli_actor(),
            brand=brand,
            mapping_path=mapping,
            rejects_path=rejects,
            progress=progress,
            oa_appid=oa_appid,
        ),
        file,
        strict,
        as_json,
        "customers",
    )


def _run(call: Any, file: Path, strict: bool, as_json: bool, noun: str) -> None:
    from siyu.accounts.service import record_audit
    from siyu.brands.service import BrandError
    from siyu.config import MissingSecretKey, get_settings
    from siyu.db import get_engine, session_scope
    from siyu.ingest.formats import UnknownSource
    from siyu.ingest.reader import ImportFileError
    from siyu.ingest.workbook import kind_of

    settings = get_settings()
    # a workbook is read as the CSV it becomes, whose size is not known ahead: rows only
    size = file.stat().st_size if file.is_file() and kind_of(file) is None else 0
    with Progress(
        TextColumn("[bold]导入 {task.description}"),
        BarColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task(file.name, total=size or None, rows=0)
        try:
            summary = call(
                get_engine(),
                settings,
                lambda done, rows: bar.update(task, completed=done, rows=rows),
            )
        except (ImportFileError, UnknownSource, BrandError, MissingSecretKey) as exc:
            fail(str(exc))
    with session_scope() as session:
        record_audit(
            session,
            cli_actor(),
            f"import.{noun}",
            "import_run",
            str(summary.run_id),
            {"file": file.name, "source": summary.source, "read": summary.read},
        )
    if as_json:
        echo_json(summary.as_dict())
    else:
        _print(summary, noun)
    if summary.error or (summary.read and summary.written == 0):
        if summary.error:
            console.print(f"[red]{summary.error}")
        raise typer.Exit(1)
    if strict and summary.rejected_total:
        raise typer.Exit(3)


def _print(s: ImportSummary, noun: str) -> None:
    out = Console()
    table = Table(
        title=f"导入结果 import #{s.run_id} ({s.source}, {s.encoding})", show_header=False
    )
    table.add_column()
    table.add_column(justify="right")
    for label, value in (
        ("读取行 rows read", s.read),
        (f"新增 {noun} inserted", s.inserted),
        (f"更新 {noun} updated", s.updated),
        (f"未变 {noun} unchanged", s.unchanged),
        ("拒绝行 rows rejected", s.rejected_total),
        ("新客户 customers created", s.customers_created),
        ("合并 merges", s.merges),
        ("身份冲突 identity conflicts", s.conflicts),
        ("已擦除者重现 suppressed (not marketable)", s.suppressed),
        ("营销授权 consents recorded", s.consents),
        ("免打扰变更 do-not-disturb changed", s.do_not_disturb),
        ("批次 batches committed", s.batches),
    ):
        table.add_row(label, f"{value:,}")
    out.print(table)
    for reason, n in s.rejected.most_common():
        out.print(f"  拒绝 rejected {n:,} × {reason}")
    for reason, n in s.warnings.most_common():
        out.print(f"  注意 warning {n:,} × {reason}")
    if s.suppressed:
        out.print(
            f"  {s.suppressed:,} row(s) belong to people who asked to be erased: stored, "
            "but their profiles stay suppressed (not marketable)."
        )
    if s.rejects_path:
        out.print(f"  拒绝明细 rejects file: {s.rejects_path}")
    out.print(
        "  每批独立提交；中断后重新运行同一命令即可续传 (batches commit one by one; re-run to resume)."
    )
