"""Decoding images the same way in prepare, in the cache builder and in the loader workers.

Policies (documented in data/README.md):

* The content decides, not the extension: a PNG named ``.jpg`` is kept (its real format is
  recorded in the manifest and listed in the report); a file Pillow cannot identify, or
  whose format is not a still raster image we accept, is excluded.
* Truncated and zero-byte files are excluded: every image is decoded to the end once.
* Decompression bombs: Pillow warns above ``Image.MAX_IMAGE_PIXELS`` (89.5 MP) and refuses
  above twice that. We replace its check by our own limit, ``data.max_pixels``: larger
  images are excluded before decoding; smaller ones are decoded, JPEGs in draft mode
  (libjpeg's DCT scaling), so a 100 MP JPEG costs little time and memory.
* Colour: grayscale, CMYK, palette, 16-bit are converted to RGB; transparent pixels are
  composited onto white (what a painting on a white page looks like), not onto black.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

# Formats a painting may be stored in; "MPO" is what Pillow calls some camera JPEGs.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
# The format each suffix promises, to report files whose content says otherwise.
SUFFIX_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG", ".webp": "WEBP",
                  ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}
DEFAULT_MAX_PIXELS = 200_000_000


class ImageProblem(Exception):
    """Why a file is not a usable image (the text goes into excluded.csv)."""


class TooLarge(ImageProblem):
    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(f"{width}x{height} = {width * height / 1e6:.1f} MP is above data.max_pixels = "
                         f"{max_pixels / 1e6:.1f} MP")
        self.width, self.height = width, height


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str
    sha1: str


@contextlib.contextmanager
def _own_pixel_limit() -> Iterator[None]:
    # Pillow's bomb check is process-global; we have checked the size against data.max_pixels
    # already, so switch it off around our own decoding only.
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette-transparency and EXIF chatter
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _open(stream: BinaryIO, max_pixels: int) -> Image.Image:
    try:
        im = Image.open(stream)
    except UnidentifiedImageError:
        raise ImageProblem("not an image (Pillow cannot identify the content)") from None
    except Exception as e:  # a damaged file can make Pillow raise almost anything
        if "runcated" in str(e):
            raise ImageProblem(f"truncated file ({e})") from None
        raise ImageProblem(f"unreadable header ({type(e).__name__}: {e})") from None
    if im.format not in ACCEPTED_FORMATS:
        raise ImageProblem(f"unsupported format {im.format}")
    w, h = im.size
    if w < 1 or h < 1:
        raise ImageProblem(f"empty image ({w}x{h})")
    if w * h > max_pixels:
        raise TooLarge(w, h, max_pixels)
    return im


def _load(im: Image.Image) -> None:
    try:
        im.load()
    except Exception as e:  # a damaged file can make Pillow raise almost anything
        text = str(e) or type(e).__name__
        if "truncated" in text:
            raise ImageProblem(f"truncated file ({text})") from None
        raise ImageProblem(f"cannot decode ({text})") from None


def _check_scan_length(n_bytes: int, w: int, h: int) -> None:
    """A baseline JPEG spends at least 2 bits (a DC code and an end-of-block code) on each 8x8 block
    of luma; fewer bytes than that mean the scan ended early and libjpeg filled the rest with grey,
    which Pillow does not report."""
    blocks = -(-w // 8) * -(-h // 8)
    if n_bytes * 4 < blocks:
        raise ImageProblem(f"truncated scan: the header says {w}x{h} pixels ({blocks} blocks) but the file holds "
                           f"{n_bytes} bytes, too few to encode them (the rest would decode as flat grey)")


def check(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Decode ``data`` to the end (JPEGs at 1/8 scale: every byte is still entropy-decoded)."""
    if not data:
        raise ImageProblem("empty file (0 bytes)")
    with _own_pixel_limit():
        im = _open(io.BytesIO(data), max_pixels)
        fmt, (w, h), mode = im.format, im.size, im.mode
        progressive = bool(im.info.get("progressive") or im.info.get("progression"))
        if fmt in ("JPEG", "MPO"):
            im.draft("RGB", (1, 1))
        _load(im)
    if fmt in ("JPEG", "MPO") and not progressive:
        _check_scan_length(len(data), w, h)
    return ImageInfo(fmt, w, h, mode, hashlib.sha1(data).hexdigest())


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / peak), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def load_rgb(stream: BinaryIO, min_side: Optional[int] = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as RGB; a JPEG is decoded directly at the smallest 1/2, 1/4 or 1/8 scale that
    keeps both sides at least ``min_side`` (the quality of a downscale, at a fraction of the cost)."""
    with _own_pixel_limit():
        im = _open(stream, max_pixels)
        if min_side and im.format in ("JPEG", "MPO"):
            im.draft("RGB", (min_side, min_side))
        _load(im)
        return _to_rgb(im)
