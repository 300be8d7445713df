"""Referral posters without a database: the art an operator uploads is re-encoded within
limits (metadata dropped, not-images and decompression bombs refused), a poster is drawn at
WeChat's share size with a CJK font, cached by what is on it, and a third drawing at once is
told to wait rather than queued."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_database


def _jpeg_with_gps() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (1500, 900), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {2: (31, 14, 0)}  # GPS latitude
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_art_is_re_encoded_without_its_metadata() -> None:
    from PIL import Image

    from siyu.growth.poster import WIDTH, clean_art

    cleaned = clean_art(_jpeg_with_gps())
    with Image.open(io.BytesIO(cleaned)) as img:
        assert img.format == "PNG" and img.width == WIDTH
        assert not img.getexif() and "exif" not in img.info


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg onload=alert(1)>",
        b"GIF89a" + b"\x00" * 100,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing usable
        b"x" * 5_000_001,
    ],
)
def test_what_is_not_art_is_refused(data: bytes) -> None:
    from siyu.growth.poster import BadArt, clean_art

    with pytest.raises(BadArt):
        clean_art(data)


def test_a_huge_image_is_refused_before_it_is_decoded() -> None:
    from PIL import Image

    from siyu.growth.poster import BadArt, clean_art

    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")  # tiny file, 400 million pixels
    assert len(out.getvalue()) < 5_000_000
    with pytest.raises(BadArt):
        clean_art(out.getvalue())


def test_a_poster_is_drawn_once_and_cached(tmp_path: Path) -> None:
    from PIL import Image

    from siyu.growth.poster import HEIGHT, WIDTH, PosterText, link_qr, poster

    text = PosterText(
        "<script>王芳", "悦颜会员", "扫码入会，首单完成后得 50 积分", "长按识别二维码"
    )
    qr = link_qr("https://example.cn/r/ABCDEFGH")
    made = poster(tmp_path, text, qr, None)
    with Image.open(io.BytesIO(made)) as img:
        assert img.size == (WIDTH, HEIGHT)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].read_bytes() == made
    assert poster(tmp_path, text, qr, None) == made and len(list(tmp_path.iterdir())) == 1
    other = poster(tmp_path, PosterText("李雷", "悦颜会员", "", "长按识别二维码"), qr, None)
    assert other != made and len(list(tmp_path.iterdir())) == 2


def test_a_third_poster_at_once_is_told_to_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.growth import poster as module

    held = threading.BoundedSemaphore(2)
    held.acquire()
    held.acquire()
    monkeypatch.setattr(module, "_DRAWING", held)
    text = module.PosterText("王芳", "悦颜会员", "", "长按识别二维码")
    with pytest.raises(module.PosterUnavailable):
        module.poster(tmp_path, text, module.link_qr("https://example.cn/r/X"), None)


def test_no_font_is_a_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.growth import poster as module

    monkeypatch.setattr(module, "FONTS", ("/nowhere/font.ttc",))
    from siyu import runtime

    monkeypatch.delenv("SIYU_POSTER_FONT", raising=False)
    runtime.reset()
    with pytest.raises(module.PosterUnavailable, match="fonts-noto-cjk"):
        module.font_path()
