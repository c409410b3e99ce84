"""Reading product images safely and turning them into model input."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageChops, UnidentifiedImageError

from .errors import DressUpError

#: Anything `load_image` accepts: a path, raw bytes, or an already opened PIL image.
ImageInput = Union[str, Path, bytes, Image.Image]

#: Refuse images above this many pixels (decompression bombs); about a 9000 x 9000 photo.
MAX_PIXELS = 80_000_000


class ImageError(DressUpError, ValueError):
    """An image that cannot be read: missing, truncated, not an image, or too large."""


def load_image(source: ImageInput, max_pixels: int = MAX_PIXELS, draft_size: int | None = None) -> Image.Image:
    """Open an image as RGB, compositing transparency onto white.

    ``draft_size`` lets the JPEG decoder skip detail that the model will not see anyway.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        name = "uploaded image" if isinstance(source, bytes) else str(source)
        try:
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        except FileNotFoundError:
            raise ImageError(f"{name}: no such file") from None
        except (UnidentifiedImageError, OSError) as error:
            raise ImageError(f"{name}: not a readable image ({error})") from None
        if image.width * image.height > max_pixels:
            raise ImageError(f"{name}: {image.width}x{image.height} pixels is over the limit of {max_pixels}")
        try:
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise ImageError(f"{name}: corrupt image ({error})") from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def trim_background(image: Image.Image, tolerance: int = 16, margin: float = 0.03) -> Image.Image:
    """Crop a plain packshot background (the colour of the corners) away, keeping a small margin.

    The product then fills the model's input whatever the shop's framing, which matters more the
    smaller the input size. Photos whose corners differ (no plain background) are left as they are.
    """
    width, height = image.size
    corners = [image.getpixel(p) for p in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1))]
    background = corners[0]
    if any(max(abs(a - b) for a, b in zip(c, background)) > tolerance for c in corners):
        return image
    difference = ImageChops.difference(image, Image.new("RGB", image.size, background)).convert("L")
    box = difference.point(lambda value: 255 if value > tolerance else 0).getbbox()
    if box is None:
        return image
    pad_x, pad_y = int(margin * width), int(margin * height)
    box = (max(0, box[0] - pad_x), max(0, box[1] - pad_y), min(width, box[2] + pad_x), min(height, box[3] + pad_y))
    return image.crop(box) if box != (0, 0, width, height) else image


def square_pad(image: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Pad to a square on a white background, so the whole product stays in view."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def to_pixels(image: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...], trim: bool = False) -> np.ndarray:
    """A (3, size, size) float32 array normalised with the encoder's mean and std."""
    if trim:
        image = trim_background(image)
    background = image.getpixel((0, 0)) if trim else (255, 255, 255)
    image = square_pad(image, background).resize((size, size), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) * (1.0 / 255.0)
    pixels = (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))
