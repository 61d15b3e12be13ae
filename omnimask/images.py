"""A user's photos as a 4M model reads them: any file Pillow opens → a square (R, R, 3) uint8 RGB image.

:func:`read_image` applies the EXIF orientation, converts every mode (grey, palette, RGBA / LA over
white, 16-bit grey scaled to 8 bits, CMYK) to 8-bit RGB, and refuses what it cannot read with an
:class:`ImageError` saying why (a corrupt or zero-byte file, a picture over :data:`MAX_PIXELS`).
Large JPEGs are decoded at a reduced scale (Pillow's ``draft``: 1/2 to 1/8 in the decoder) so that a
huge photo never needs its full-size buffer; other formats over the limit are refused before
decoding. :func:`square` center-crops to a square and resizes to the model's resolution.

One home for both paths a photo takes: ``omnimask label`` (training data) and the generation
conditions (``--input rgb=photo.jpg``) read and crop it the same way.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: File suffixes ``omnimask label`` reads (case-insensitive).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Largest picture decoded at full size, in pixels (10000 × 10000); a JPEG above it is decoded reduced.
MAX_PIXELS = 100_000_000
_ORIENTATION = 0x0112  # the EXIF tag


class ImageError(ValueError):
    """A file that is not a readable image (the message says why; ``omnimask label`` lists it and goes on)."""


@dataclasses.dataclass(frozen=True)
class Photo:
    """One read image: ``rgb`` (H, W, 3) uint8 upright, and its full upright size (``width``, ``height``;
    larger than ``rgb`` when a huge JPEG was decoded reduced)."""

    rgb: np.ndarray
    width: int
    height: int


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale the full range to 8 bits
        values = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        span = max(values.max() - values.min(), 1e-12)
        return Image.fromarray(((values - values.min()) / span * 255 + 0.5).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def read_image(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> Photo:
    """The upright 8-bit RGB picture in a file (or in the bytes of one, e.g. an upload; see the module
    docstring); :class:`ImageError` if unreadable."""
    data = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    if (len(source) if isinstance(source, bytes) else Path(source).stat().st_size) == 0:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(data) as img:
                width, height = img.size
                if width * height > max_pixels:
                    if img.format != "JPEG":
                        raise ImageError(f"{width}x{height} = {width * height / 1e6:.0f} MP is over the "
                                         f"{max_pixels / 1e6:g} MP limit (only JPEGs are decoded reduced)")
                    scale = 2 * (width * height / max_pixels) ** 0.5  # draft gives at most twice the asked side
                    img.draft("RGB", (max(1, int(width / scale)), max(1, int(height / scale))))
                    if img.size[0] * img.size[1] > max_pixels:
                        raise ImageError(f"{width}x{height} is over the {max_pixels / 1e6:g} MP limit even "
                                         "decoded at 1/8 scale")
                if img.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):  # stored turned by 90°
                    width, height = height, width
                img.load()
                rgb = np.asarray(_to_rgb(ImageOps.exif_transpose(img)), dtype=np.uint8)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"the picture is over the {max_pixels / 1e6:g} MP limit (Pillow: {err})") from None
    except UnidentifiedImageError as err:
        raise ImageError(f"not a readable image ({type(err).__name__}: {err})") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated / corrupt data
        raise ImageError(f"corrupt image data ({err})") from None
    return Photo(rgb, width, height)


#: Side of the high-resolution crop labelers that need detail (faces) read.
DETAIL_SIZE = 512


@dataclasses.dataclass(frozen=True)
class Crop:
    """What a labeler sees of one photo: the dataset image and a sharper copy of the same square.

    Attributes:
        rgb: (R, R, 3) uint8, the centred square at the dataset resolution (what the model reads).
        detail: (S, S, 3) uint8, the same square at S = min(its side, :data:`DETAIL_SIZE`).
        width, height: the photo's full upright size (4M-21's ``original_width`` / ``original_height``).
    """

    rgb: np.ndarray
    detail: np.ndarray
    width: int
    height: int


def crop_photo(photo: Photo, resolution: int) -> Crop:
    """The :class:`Crop` of ``photo`` at ``resolution``."""
    side = min(photo.rgb.shape[:2])
    return Crop(square(photo.rgb, resolution), square(photo.rgb, min(side, DETAIL_SIZE)), photo.width, photo.height)


def square(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """(H, W, 3) uint8 → (R, R, 3) uint8: the centred square of side min(H, W), resized to ``resolution``."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(rgb[top : top + side, left : left + side])
    if side != resolution:
        crop = crop.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(crop, dtype=np.uint8)
