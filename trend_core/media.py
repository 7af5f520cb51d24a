"""Images and video stills of a posts file: paths resolved under their roots (never outside), pictures
decoded completely, normalised (EXIF rotation, RGB on white, at most 512 px) and hashed, in threads."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from trend_core import video
from trend_core.video import VideoRejected

MAX_PIXELS = 60_000_000          # larger images are rejected as image_too_large (decompression bombs)
MAX_BYTES = 40 * 1024 * 1024     # larger image files are rejected as image_too_large
DATA_SIDE = 512                  # stored image: JPEG, longest side at most this
THUMB_SIDE = 128                 # stored thumbnail: JPEG, longest side at most this
JPEG_QUALITY = 90
THUMB_QUALITY = 85
# A decoded image with more pixels than this is shrunk (box average) to about twice the stored size in
# strips, before any conversion, so only the decoded pixels themselves are ever held at full size (an
# image at MAX_PIXELS costs at most 4 bytes a pixel, 240 MB). One such image is decoded at a time.
REDUCE_PIXELS = 8_000_000
_LARGE_DECODE = threading.Lock()
_STRIP_PIXELS = 2_000_000        # pixels converted at a time when shrinking a large image
_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


class ImageRejected(Exception):
    """An image that cannot be stored; `reason` is a REASONS code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


MEDIA_REJECTED = (ImageRejected, VideoRejected)  # what resolving or decoding a post's media raises


@dataclass(frozen=True)
class Media:
    """The local file whose picture becomes a post's image."""

    kind: str      # "image" or "video"
    written: str   # the path as the posts file wrote it
    path: Path     # resolved, inside the images folder




def _to_rgb(im: Image.Image, top: float | None = None) -> Image.Image:
    """RGB; transparency composited on white; 16-bit greys to 8 bits by their high byte (integer shift,
    no float copy); 32-bit integer / float greys scaled by their maximum (`top`, else the image's) in
    float32."""
    if im.mode.startswith("I;16"):
        im = Image.fromarray((np.asarray(im) >> 8).astype(np.uint8), "L")
    elif im.mode in ("I", "F"):
        top = float(im.getextrema()[1] or 0) if top is None else top
        scale = np.float32(255.0 / top if top > 255 else 1.0)
        im = Image.fromarray(np.clip(np.asarray(im, dtype=np.float32) * scale, 0, 255).astype(np.uint8), "L")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return white.convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def normalise_image(raw: bytes) -> tuple[str, bytes, bytes, int, int]:
    """(sha256 of raw bytes, JPEG q90 with longest side <= 512, JPEG thumbnail <= 128, width, height).

    The image must decode completely (truncated files are rejected, LOAD_TRUNCATED_IMAGES is not
    used). EXIF orientation is applied, transparency composited on white, CMYK / L / P made RGB.
    Raises ImageRejected('image_corrupt' | 'image_too_large', detail)."""
    if len(raw) > MAX_BYTES:
        raise ImageRejected("image_too_large", f"{len(raw):,} bytes > {MAX_BYTES:,}")
    if not raw:
        raise ImageRejected("image_corrupt", "empty file")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        im = Image.open(io.BytesIO(raw))
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise ImageRejected("image_too_large", f"{width}x{height} > {MAX_PIXELS:,} pixels")
        if im.format == "JPEG":
            im.draft(im.mode, (DATA_SIDE, DATA_SIDE))  # DCT scaling on load (1/2, 1/4, 1/8): still reads every byte
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected("image_too_large", str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 (Pillow raises many types on bad data)
        raise ImageRejected("image_corrupt", f"{type(exc).__name__}: {exc}") from exc
    factor = _reduce_factor(im.size)
    with _LARGE_DECODE if factor > 1 else contextlib.nullcontext():
        _load(im)
        if factor > 1:
            rgb = _shrunk_rgb(im, factor)
    if factor == 1:
        try:
            im = ImageOps.exif_transpose(im) or im
        except Exception:  # noqa: BLE001 (a broken EXIF block must not reject the picture)
            pass
        try:
            rgb = _to_rgb(im)
        except Exception as exc:  # noqa: BLE001
            raise ImageRejected("image_corrupt", f"cannot convert mode {im.mode}: {exc}") from exc
    rgb.thumbnail((DATA_SIDE, DATA_SIDE), Image.Resampling.LANCZOS)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return digest, _jpeg(rgb, JPEG_QUALITY), _jpeg(thumb, THUMB_QUALITY), rgb.width, rgb.height


def _load(im: Image.Image) -> None:
    """Decode the pixels completely; ImageRejected when they cannot be."""
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageRejected("image_too_large", str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 (Pillow raises many types on bad data)
        raise ImageRejected("image_corrupt", f"{type(exc).__name__}: {exc}") from exc


def _reduce_factor(size: tuple[int, int]) -> int:
    """How much a decoded image of this size is shrunk before conversion: 1 up to REDUCE_PIXELS, else
    the factor Pillow's thumbnail() would reduce by (keeping at least twice the stored size)."""
    width, height = size
    if width * height <= REDUCE_PIXELS:
        return 1
    return max(1, int(max(width, height) / (2 * DATA_SIDE)))


def _shrunk_rgb(im: Image.Image, factor: int) -> Image.Image:
    """A large decoded image as RGB shrunk by `factor` (box average), EXIF orientation applied, converted
    strip by strip (16-bit / float greys to 8 bits, transparency on white) so no full-size copy is made."""
    try:
        orientation = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 (a broken EXIF block must not reject the picture)
        orientation = None
    width, height = im.size
    try:
        top = float(im.getextrema()[1] or 0) if im.mode in ("I", "F") else None
        out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
        step = factor * max(1, _STRIP_PIXELS // (width * factor))
        for y in range(0, height, step):
            strip = _to_rgb(im.crop((0, y, width, min(height, y + step))), top)
            out.paste(strip.reduce(factor), (0, y // factor))
    except Exception as exc:  # noqa: BLE001
        raise ImageRejected("image_corrupt", f"cannot convert mode {im.mode}: {exc}") from exc
    im.close()
    return out.transpose(_EXIF_TRANSPOSE[orientation]) if orientation in _EXIF_TRANSPOSE else out


def is_url(s: str) -> bool:
    return bool(re.match(r"^(?:https?:)?//", s, re.IGNORECASE))


def resolve_image_path(candidate: str, root: Path | list[Path] | None) -> Path:
    """The image file for a path from the posts file, checked to lie inside a root.
    Raises ImageRejected('image_missing' | 'image_outside_root' | 'image_too_large')."""
    return resolve_media_path(candidate, root, "image")


def _tries(path: Path, base: Path) -> list[Path]:
    """Where a relative path may be under base: base/path, and base/rest when the path starts with the
    folder's own name (`images/a.jpg` with the images folder itself given as base)."""
    tries = [base / path]
    if len(path.parts) > 1 and path.parts[0] == base.name:
        tries.append(base.joinpath(*path.parts[1:]))
    return tries


def resolve_media_path(candidate: str, roots: Path | list[Path] | None, kind: str = "image") -> Path:
    """The image or video file (kind) for a path from the posts file. A relative path is looked up under
    each root in order (the images folder, then the posts file's folder); the file must lie inside the
    root it is found in; an absolute path must lie inside the first root. Raises ImageRejected / VideoRejected with reason '<kind>_missing' |
    '<kind>_outside_root' | '<kind>_too_large' (MAX_BYTES for images, video.MAX_VIDEO_BYTES for videos)."""
    error = VideoRejected if kind == "video" else ImageRejected
    max_bytes = video.MAX_VIDEO_BYTES if kind == "video" else MAX_BYTES
    s = candidate.replace("\\", "/")
    if s.lower().startswith("file://"):
        s = s[7:]
    if "\x00" in s:
        raise error(f"{kind}_missing", "path contains a NUL character")
    bases = list(dict.fromkeys(r.resolve() for r in ([roots] if isinstance(roots, Path) else roots or [])))
    if not bases:
        raise error(f"{kind}_missing", f"{candidate!r}: no images folder given (pass images_dir)")
    path = Path(s)
    if path.is_absolute():
        bases = bases[:1]  # an absolute path must lie in the images folder (the posts file's without one)
    stays_inside, leaves_to_a_file = False, False
    for base in bases:
        for full in ([path.resolve()] if path.is_absolute() else [t.resolve() for t in _tries(path, base)]):
            if not full.is_relative_to(base):
                leaves_to_a_file |= full.is_file()
                continue
            stays_inside = True
            if full.is_file():
                size = full.stat().st_size
                if size > max_bytes:
                    raise error(f"{kind}_too_large", f"{size:,} bytes > {max_bytes:,}")
                return full
    if leaves_to_a_file or not stays_inside:
        raise error(f"{kind}_outside_root", f"{candidate!r} is outside {', '.join(map(str, bases))}")
    raise error(f"{kind}_missing", f"{candidate!r} not found under {' or '.join(map(str, bases))}")


def _load_path(path: Path) -> tuple[str, bytes, bytes, int, int]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageRejected("image_missing", f"cannot read {path.name}: {exc}") from exc
    return normalise_image(raw)


def _load_video(path: Path) -> tuple[tuple[str, bytes, bytes, int, int], float]:
    """The video's still (video.grab_still) normalised like a photo, and its time in seconds.
    The still is handed to normalise_image as PNG bytes, so image_hash is the sha256 of that PNG."""
    still = video.grab_still(path, max_pixels=MAX_PIXELS)
    buf = io.BytesIO()
    still.image.save(buf, format="PNG", compress_level=1)
    try:
        return normalise_image(buf.getvalue()), still.seconds
    except ImageRejected as exc:
        reason = "video_too_large" if exc.reason == "image_too_large" else "video_corrupt"
        raise VideoRejected(reason, f"still at {still.seconds} s: {exc.detail}") from exc


def load_media(item: tuple[str, Path]) -> tuple[tuple[str, bytes, bytes, int, int], float | None]:
    """(normalised image, still time for a video else None) for a (kind, path) item."""
    kind, path = item
    return _load_video(path) if kind == "video" else (_load_path(path), None)


def decode_in_threads(func: Callable[[Any], Any], items: list[Any]) -> dict[Any, Any]:
    """item -> func(item) or the ImageRejected / VideoRejected it raised, decoded in threads
    (Pillow and FFmpeg drop the GIL while decoding)."""
    def safe(item: Any) -> Any:
        try:
            return func(item)
        except MEDIA_REJECTED as exc:
            return exc

    if not items:
        return {}
    workers = max(1, min(8, os.cpu_count() or 2, len(items)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(items, pool.map(safe, items)))
