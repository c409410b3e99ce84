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

#: Refuse images above this many pixels (decompression bombs): a 40 Mpx camera's photo, 160 MB decoded.
MAX_PIXELS = 40_000_000

#: Refuse images longer than this on either side: a product photo never is, and a thin strip of few pixels would
#: otherwise be padded to a huge square.
MAX_SIDE = 16_384

#: Decoded photos longer than this are shrunk (in their own mode, by an integer factor) before anything else, so that
#: padding and converting cost at most a few tens of MB. Product photos are smaller and are left exactly as they are.
LARGEST_SIDE = 4_096


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
            raise ImageError(f"{name}: not a photo in a format DressUp reads ({accepted})") from None
        except Exception as error:  # noqa: BLE001 - decoders raise ValueError, NotImplementedError ... on crafted files
            raise ImageError(f"{name}: not a readable image ({type(error).__name__}: {error})") from None
        _check_size(name, image, max_pixels)
        try:
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            return _to_rgb(_shrunk(image))
        except Exception as error:  # noqa: BLE001 - the same, while decoding
            raise ImageError(f"{name}: corrupt image ({type(error).__name__}: {error})") from None
    _check_size("image", image, max_pixels)
    return _to_rgb(_shrunk(image))


def _check_size(name: str, image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,} pixels")
    if max(width, height) > MAX_SIDE:
        raise ImageError(f"{name}: {width}x{height} pixels is longer than {MAX_SIDE:,} pixels on a side")
    if min(width, height) == 0:
        raise ImageError(f"{name}: an image of {width}x{height} pixels is empty")


def _shrunk(image: Image.Image) -> Image.Image:
    """The image in RGB, shrunk by an integer factor when it is longer than `LARGEST_SIDE`.

    It is converted and averaged a strip of rows at a time, so that no full-size copy is ever made (Pillow's own
    `reduce` copies an RGBA image whole to premultiply its alpha).
    """
    factor = -(-max(image.size) // LARGEST_SIDE)
    if factor <= 1:
        return image
    width, height = image.size
    shrunk = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, 256 // factor)
    for top in range(0, height, rows):
        strip = _to_rgb(image.crop((0, top, width, min(top + rows, height))))
        shrunk.paste(strip.reduce(factor), (0, top // factor))
    return shrunk


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):  # 16-bit greyscale: keep the top 8 bits rather than clip everything to white
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8), "L")
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
    if side > LARGEST_SIDE:
        raise ImageError(f"a {width}x{height} image is too long to pad: open it with load_image, which shrinks it")
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
