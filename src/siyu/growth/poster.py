"""Referral posters: an image a member shares (750 × 1334, WeChat's portrait share size) with the
brand's art, the member's name, what a new member gets for a first order, and a QR — the
member's own WeCom contact way when they have a guide, else their link.

Drawn with Pillow and a CJK font from the system (Debian's fonts-noto-cjk; ``make run``
installs it). A poster is made the first time it is asked for and kept on disk under a name
made of everything drawn on it, so a million members cost nothing until they open theirs, and
a second request is a file read. At most two are drawn at once per process; a third request
meanwhile is told to try again (503), never queued without bound.

The words never promise anything for sharing (WeChat's external-link rules): the reward is
for the friend's first order."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from siyu.refusals import Refusal, Unavailable

WIDTH, HEIGHT = 750, 1334
QR_SIZE = 360
ART_MAX_BYTES = 5_000_000
ART_MAX_SIDE = 4000
FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_DRAWING = threading.BoundedSemaphore(2)


class PosterUnavailable(Unavailable):
    """No poster can be drawn now (no CJK font installed, or two being drawn already)."""


class BadArt(Refusal):
    """An image that cannot be the poster's art."""


@dataclass(frozen=True)
class PosterText:
    name: str
    programme: str
    offer: str
    hint: str


def font_path() -> str:
    """The first CJK font found (``SIYU_POSTER_FONT`` names another)."""
    from siyu.config import get_settings

    chosen = get_settings().poster_font
    for path in ((chosen,) if chosen else ()) + FONTS:
        if path and Path(path).is_file():
            return path
    raise PosterUnavailable(
        "no Chinese font is installed for posters (Debian: apt-get install fonts-noto-cjk)"
    )


def clean_art(data: bytes) -> bytes:
    """An uploaded image re-encoded: decoded by Pillow within limits, metadata (EXIF, GPS)
    dropped, scaled to the poster's width, written again as PNG."""
    from PIL import Image, UnidentifiedImageError

    if not data or len(data) > ART_MAX_BYTES:
        raise BadArt("the image must be a PNG or JPEG of at most 5 MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in ("PNG", "JPEG") or max(img.size) > ART_MAX_SIDE:
                raise BadArt("the image must be a PNG or JPEG of at most 4000 × 4000 pixels")
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise BadArt("the file is not an image Siyu can read") from exc
    height = max(1, round(rgb.height * WIDTH / rgb.width))
    scaled = rgb.resize((WIDTH, min(height, HEIGHT)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    scaled.save(out, format="PNG", optimize=True)
    return out.getvalue()


def poster(
    folder: Path, text: PosterText, qr_png: bytes, art: bytes | None, prefix: str = ""
) -> bytes:
    """The poster's PNG: from the cache, else drawn (and kept). ``prefix`` starts the file's
    name (the member's code), so an erasure finds their posters."""
    key = hashlib.sha256(
        "\x1f".join((text.name, text.programme, text.offer, text.hint)).encode()
        + hashlib.sha256(qr_png).digest()
        + hashlib.sha256(art or b"").digest()
    ).hexdigest()[:32]
    path = folder / f"{prefix}{key}.png"
    try:
        return path.read_bytes()
    except OSError:
        pass
    if not _DRAWING.acquire(blocking=False):
        raise PosterUnavailable("posters are being drawn; try again in a moment")
    try:
        made = _draw(text, qr_png, art)
    finally:
        _DRAWING.release()
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
    part.write_bytes(made)
    part.replace(path)  # readers see the old file or the whole new one
    return made


def _draw(text: PosterText, qr_png: bytes, art: bytes | None) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    face = font_path()
    canvas = Image.new("RGB", (WIDTH, HEIGHT), (250, 244, 236))
    if art:
        with Image.open(io.BytesIO(art)) as picture:
            top = picture.convert("RGB")
            canvas.paste(top.crop((0, 0, WIDTH, min(top.height, 700))), (0, 0))
    else:
        ImageDraw.Draw(canvas).rectangle((0, 0, WIDTH, 520), fill=(176, 58, 46))
    draw = ImageDraw.Draw(canvas)
    big, mid, small = (ImageFont.truetype(face, size) for size in (52, 34, 26))
    _centred(draw, 560, f"{text.name[:12]} 邀请你加入", big, (51, 51, 51))
    _centred(draw, 630, text.programme[:18], mid, (176, 58, 46))
    if text.offer:
        _centred(draw, 690, text.offer[:26], small, (85, 85, 85))
    with Image.open(io.BytesIO(qr_png)) as qr:
        code = qr.convert("RGB").resize((QR_SIZE, QR_SIZE), Image.Resampling.NEAREST)
    canvas.paste(code, ((WIDTH - QR_SIZE) // 2, 760))
    _centred(draw, 1150, text.hint[:26], small, (120, 120, 120))
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _centred(draw: object, y: int, words: str, font: object, fill: tuple[int, int, int]) -> None:
    from PIL import ImageDraw, ImageFont

    assert isinstance(draw, ImageDraw.ImageDraw) and isinstance(font, ImageFont.FreeTypeFont)
    width = draw.textlength(words, font=font)
    draw.text(((WIDTH - width) / 2, y), words, font=font, fill=fill)


def link_qr(url: str) -> bytes:
    """A QR of the link, as PNG (when the member has no contact way)."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=10, border=2)
    return buf.getvalue()
