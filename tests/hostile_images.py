"""Photos built to cost a server memory or time: extreme aspect ratios, many pixels in few bytes, odd modes.

Shared by the tests and by `benchmarks/hardening.py`. Each is small on the wire; what it would cost to decode
carelessly is in the comment beside it.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image


def _saved(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _png_of_one_colour(width: int, height: int, rgba: bool = False) -> bytes:
    """A greyscale (or RGBA) PNG of any size written in blocks of rows, so that building it costs little memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 6 if rgba else 0, 0, 0, 0])
    row = b"\x00" + (b"\x80\x20\x20\x80" if rgba else b"\x80") * width
    per_block = max(1, 1_000_000 // len(row))
    compressor, parts = zlib.compressobj(9), []
    for start in range(0, height, per_block):
        parts.append(compressor.compress(row * min(per_block, height - start)))
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _animated_gif(frames: int) -> bytes:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), "L").convert("P") for _ in range(8)]
    return _saved(images[0], "GIF", save_all=True, append_images=[images[i % 8] for i in range(1, frames)], duration=10)


def hostile_images() -> dict[str, bytes]:
    """Name -> file bytes. Every one is either a photo the model can see, or one the server must refuse cleanly."""
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (240, 180, 3), dtype=np.uint8))
    sixteen_bit = Image.fromarray((np.arange(600 * 400, dtype=np.uint32).reshape(600, 400) % 65536).astype(np.uint16))
    return {
        "1x20000 png": _png_of_one_colour(1, 20_000),  # padded to a square: 1.6 GB
        "20000x1 png": _png_of_one_colour(20_000, 1),
        "1x39000000 png": _png_of_one_colour(1, 39_000_000),  # 152 KB; padded: a MemoryError
        "1x16000 png": _png_of_one_colour(1, 16_000),  # within every limit, and still thin
        "40 Mpx png": _png_of_one_colour(7_700, 5_190),  # 160 MB decoded in RGB
        "40 Mpx rgba png": _png_of_one_colour(7_700, 5_190, rgba=True),  # 160 MB decoded, and as much to convert
        "40 Mpx jpeg": _saved(Image.new("RGB", (7_700, 5_190), (200, 30, 40)), "JPEG", quality=50),
        "100 Mpx png (bomb)": _png_of_one_colour(10_000, 10_000),
        "40 Mpx bilevel tiff": _saved(Image.new("1", (7_000, 5_700), 1), "TIFF", compression="group4"),
        "animated gif, 3000 frames": _animated_gif(3_000),
        "cmyk jpeg": _saved(photo.convert("CMYK"), "JPEG"),
        "16-bit greyscale png": _saved(sixteen_bit, "PNG"),
        "palette png with transparency": _saved(photo.convert("P"), "PNG", transparency=0),
        "rgba png": _saved(photo.convert("RGBA"), "PNG"),
        "float tiff": _saved(Image.fromarray(np.random.default_rng(2).random((200, 150), dtype=np.float32)), "TIFF"),
        "truncated jpeg": _saved(photo, "JPEG")[:600],
        "random bytes": np.random.default_rng(3).integers(0, 255, 5_000, dtype=np.uint8).tobytes(),
        "empty file": b"",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"/>',
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100000 100000\n",
    }
