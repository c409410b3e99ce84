"""Decoding photos: every accepted image costs bounded memory, every refused one gets a clear `ImageError`."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from hostile_images import hostile_images
from PIL import Image

from dressup.images import UPLOAD_FORMATS, ImageError, load_image, square_pad, to_pixels

HOSTILE = hostile_images()
MAX_PEAK_MIB = 300

_MEASURE = """
import resource, sys
from PIL import Image
from dressup.images import UPLOAD_FORMATS, ImageError, load_image, to_pixels
to_pixels(load_image(Image.new("RGB", (30, 40))), 224, 256)
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = str(to_pixels(load_image(data, max_pixels=40_000_000, draft_size=int(sys.argv[2]) or None,
                                       formats=UPLOAD_FORMATS), 224, 256).shape)
except ImageError as error:
    outcome = "refused: " + str(error)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
print(outcome)
"""


@pytest.mark.parametrize("draft", [256, 0], ids=["search (drafted)", "upload (full size)"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_image_costs_bounded_memory_and_is_seen_or_refused(name, draft, tmp_path):
    path = tmp_path / "photo"
    path.write_bytes(HOSTILE[name])
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(draft)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr  # no traceback: an ImageError or pixels
    peak, outcome = done.stdout.splitlines()
    assert float(peak) <= MAX_PEAK_MIB, f"{name}: {float(peak):.0f} MiB"
    assert outcome == "(224, 224, 3)" or outcome.startswith("refused: uploaded image: "), outcome


def test_thin_bombs_and_foreign_formats_are_refused_with_the_reason():
    for name, reason in [("1x39000000 png", "longer than 16,384 pixels"), ("100 Mpx png (bomb)", "over the limit"),
                         ("svg", "not a photo in a format"), ("truncated jpeg", "not a readable image")]:
        with pytest.raises(ImageError, match=reason):
            load_image(HOSTILE[name], max_pixels=40_000_000, formats=UPLOAD_FORMATS)


def test_large_photos_are_shrunk_whole_and_small_ones_left_exactly_as_they_are():
    wide = Image.new("RGB", (9_000, 3_000), (255, 255, 255))
    wide.paste((200, 0, 0), (0, 0, 4_500, 3_000))
    shrunk = load_image(wide)
    assert shrunk.size == (3_000, 1_000) and shrunk.getpixel((10, 10)) == (200, 0, 0)
    assert shrunk.getpixel((2_990, 990)) == (255, 255, 255)
    small = Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 400, 3), dtype=np.uint8))
    assert load_image(small) is small


def test_sixteen_bit_and_transparent_photos_keep_their_tones():
    grey = np.asarray(load_image(HOSTILE["16-bit greyscale png"]))
    assert 0 < grey.mean() < 250 and grey.std() > 10  # not clipped to white
    transparent = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    buffer = io.BytesIO()
    transparent.save(buffer, "PNG")
    assert np.asarray(load_image(buffer.getvalue())).min() == 255  # composited onto white


def test_square_pad_refuses_what_load_image_would_have_shrunk():
    with pytest.raises(ImageError, match="too long to pad"):
        square_pad(Image.new("L", (1, 5_000)))
    assert to_pixels(load_image(Image.new("L", (1, 5_000))), 224).shape == (224, 224, 3)
