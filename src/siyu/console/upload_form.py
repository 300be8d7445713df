"""Reading the import page's form as it streams in: the export file goes straight to a file of
Siyu's own naming under the data directory, counted against ``SIYU_UPLOAD_MAX_BYTES`` as the
bytes arrive, so neither memory nor a temporary directory ever holds the whole upload. The
small fields (choices, CSRF token, the mapping file) are kept in memory under tight limits.

No byte of the file is written before the CSRF token has been checked: the form sends the token
ahead of the file (or in the ``X-CSRF-Token`` header). Whatever stops the upload — too large,
cut off, a malformed form — removes the partial file before the refusal is answered.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from siyu.config import Settings
from siyu.ingest.uploads import MAPPING_MAX_BYTES, UploadError, stored_path
from siyu.untrusted import BIG_ID_MAX, same_token, whole_number

FIELD_MAX_BYTES = 4096
MAX_FIELDS = 20
FLUSH_BYTES = 1024 * 1024
# the form around the file (its fields, the mapping file, the part headers) may add this much
FORM_SLACK = MAPPING_MAX_BYTES + MAX_FIELDS * FIELD_MAX_BYTES


class UploadRefused(Exception):
    """The upload is refused with ``status``; ``reason`` says why (a refusal, translated)."""

    def __init__(self, status: int, reason: UploadError) -> None:
        super().__init__(str(reason))
        self.status, self.reason = status, reason


def size_text(n: int) -> str:
    """A size as an operator reads it: 1.0 GiB, 256 KiB."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} B"


def too_large(limit: int) -> UploadRefused:
    return UploadRefused(
        413,
        UploadError(
            "the file is larger than the upload limit of {limit} (SIYU_UPLOAD_MAX_BYTES); "
            "split the export, or import it with `siyu import` on the server",
            limit=size_text(limit),
        ),
    )


def cut_off() -> UploadRefused:
    return UploadRefused(
        400, UploadError("the upload was cut off before it was complete; upload the file again")
    )


@dataclass
class ReceivedForm:
    """The form as received: its small fields, the stored file and its name as sent."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    file_name: str = ""
    size: int = 0
    mapping: str = ""

    def discard(self) -> None:
        if self.file is not None:
            with suppress(FileNotFoundError):
                self.file.unlink()


class _Parts:
    """The multipart parser's callbacks: which part is arriving and where its bytes go."""

    def __init__(self, settings: Settings, limit: int, csrf: str, csrf_in_header: bool) -> None:
        self.settings, self.limit = settings, limit
        self.csrf, self.csrf_ok = csrf, csrf_in_header
        self.form = ReceivedForm()
        self.ended = False
        self._out: IO[bytes] | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._mode = ""  # file | mapping | field | skip
        self._name = ""
        self._data = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._data, self._mode = b"", bytearray(), ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.form.fields) >= MAX_FIELDS:
                raise UploadRefused(400, UploadError("the form has too many fields"))
            self._mode = "field"
            return
        sent_name = options[b"filename"].decode("utf-8", "replace")
        if self._name == "mapping":
            self._mode = "mapping" if sent_name else "skip"
            return
        if self._name != "file" or self.form.file is not None:
            raise UploadRefused(400, UploadError("one export file per upload"))
        if not sent_name:
            self._mode = "skip"  # no file chosen: the browser sends an empty part
            return
        if not self.csrf_ok:
            raise UploadRefused(
                403, UploadError("CSRF token missing or wrong; reload the page and upload again")
            )
        try:
            path = stored_path(self.settings, sent_name)
        except UploadError as exc:
            raise UploadRefused(400, exc) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out = path.open("xb")
        self.form.file, self.form.file_name, self._mode = path, sent_name, "file"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._mode == "file":
            self._pending.append(data[start:end])
            self._pending_bytes += end - start
            self.form.size += end - start
            if self.form.size > self.limit:
                raise too_large(self.limit)
        elif self._mode in ("field", "mapping"):
            self._data += data[start:end]
            cap = MAPPING_MAX_BYTES if self._mode == "mapping" else FIELD_MAX_BYTES
            if len(self._data) > cap:
                if self._mode == "mapping":
                    raise UploadRefused(400, UploadError("the mapping file is larger than 64 KiB"))
                raise UploadRefused(
                    400, UploadError("the form field {name!r} is too long", name=self._name[:40])
                )

    def on_part_end(self) -> None:
        if self._mode == "field":
            value = self._data.decode("utf-8", "replace")
            self.form.fields[self._name] = value
            if self._name == "csrf" and same_token(value, self.csrf):
                self.csrf_ok = True
        elif self._mode == "mapping":
            self.form.mapping = self._data.decode("utf-8-sig", "replace")

    def on_end(self) -> None:
        self.ended = True

    @property
    def should_flush(self) -> bool:
        return self._pending_bytes >= FLUSH_BYTES

    def flush(self) -> None:
        """Write what has arrived of the file (in a worker thread: disk writes block)."""
        if self._out is not None and self._pending:
            self._out.writelines(self._pending)
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        self.flush()
        self.abandon()

    def abandon(self) -> None:
        self._pending, self._pending_bytes = [], 0
        if self._out is not None:
            self._out.close()
            self._out = None


async def receive_form(
    request: Request, settings: Settings, *, limit: int, csrf: str
) -> ReceivedForm:
    """The import form, its file streamed to the uploads folder; raises UploadRefused (the
    partial file removed) when the upload cannot be taken."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadRefused(
            400, UploadError("the upload is not a form with a file (multipart/form-data)")
        )
    length = whole_number(request.headers.get("content-length"), most=BIG_ID_MAX)
    if length is not None and length > limit + FORM_SLACK:
        raise too_large(limit)  # refused before a byte is read (any other length: as counted)
    sent = request.headers.get("x-csrf-token", "")
    parts = _Parts(settings, limit, csrf, bool(sent) and same_token(sent, csrf))
    seen = 0
    try:
        try:
            parser = MultipartParser(params[b"boundary"], parts.callbacks())  # type: ignore[arg-type]
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > limit + FORM_SLACK:
                    raise too_large(limit)
                parser.write(chunk)
                if parts.should_flush:
                    await run_in_threadpool(parts.flush)
            parser.finalize()
        except ClientDisconnect:
            raise cut_off() from None
        except FormParserError as exc:
            raise UploadRefused(
                400, UploadError("the form could not be read: {reason}", reason=str(exc)[:200])
            ) from None
        if not parts.ended:
            raise cut_off()
        await run_in_threadpool(parts.close)
    except BaseException:
        parts.abandon()
        parts.form.discard()
        raise
    return parts.form
