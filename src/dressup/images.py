"""Reading product images safely and turning them into model input."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DressUpError

#: Anything `load_image` accepts: a path, raw bytes, or an already opened PIL image.
ImageInput = str | Path | bytes | Image.Image

#: Refuse images above this many pixels (decompression bombs); about a 9000 x 9000 photo.
MAX_PIXELS = 80_000_000


class ImageError(DressUpError, ValueError):
    """An image that cannot be read: missing, truncated, not an image, or too large."""


#: What uploads may be: the formats of product photos (no EPS, PSD, DDS ... whose decoders are a larger attack surface).
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


def content_hash(data: bytes) -> str:
    """An image file's identity in a store: embeddings are reused for an (id, content hash) seen before."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def load_image(source: ImageInput, max_pixels: int = MAX_PIXELS, draft_size: int | None = None,
               formats: tuple[str, ...] | None = None) -> Image.Image:
    """Open an image as RGB, compositing transparency onto white.

    ``draft_size`` lets the JPEG decoder skip detail that the model will not see anyway; ``formats``
    limits the decoders tried (e.g. `UPLOAD_FORMATS` for files from the internet).
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        name = "uploaded image" if isinstance(source, bytes) else str(source)
        try:
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=formats)
        except FileNotFoundError:
            raise ImageError(f"{name}: no such file") from None
        except Image.DecompressionBombError as error:
            raise ImageError(f"{name}: refused, too many pixels ({error})") from None
        except UnidentifiedImageError:
            accepted = ", ".join(formats) if formats else "JPEG, PNG, WebP ..."
            raise ImageError(f"{name}: not an image in a format Pillow reads ({accepted})") from None
        except Exception as error:  # noqa: BLE001 - decoders raise ValueError, NotImplementedError ... on crafted files
            raise ImageError(f"{name}: not a readable image ({type(error).__name__}: {error})") from None
        if image.width * image.height > max_pixels:
            raise ImageError(f"{name}: {image.width}x{image.height} pixels is over the limit of {max_pixels}")
        try:
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            return _to_rgb(image)
        except Exception as error:  # noqa: BLE001 - the same, while decoding
            raise ImageError(f"{name}: corrupt image ({type(error).__name__}: {error})") from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def square_pad(image: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Pad to a square on a white background, so the whole product stays in view."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def to_pixels(image: Image.Image, size: int, resize: int | None = None) -> np.ndarray:
    """The (size, size, 3) uint8 array a model sees.

    The image is padded to a white square, resized to ``resize`` (default ``size``) and centre-cropped
    to ``size``, as ImageNet models were evaluated. Packshots keep their product whole: only the
    white border is cropped.
    """
    resize = max(resize or size, size)
    image = square_pad(image)
    if image.size != (resize, resize):
        image = image.resize((resize, resize), Image.BILINEAR)
    pixels = np.asarray(image)
    offset = (resize - size) // 2
    return pixels[offset : offset + size, offset : offset + size]
