"""The README's picture of the web page, made from a catalog DressUp draws itself (no dataset photo is published).

    python scripts/readme_screenshot.py            # writes docs/web-page.png and docs/web-product.png

It draws 72 flat garment pictures (T-shirts, trousers, dresses, skirts, bags, caps) in 12 colours and three
patterns, writes them with prices and sizes as a generic catalog, indexes it, serves it with `dressup serve`, and
photographs the page in Debian's headless Chromium (Playwright), at the catalog and at a product page.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parent.parent
COLOURS = {"Black": (35, 35, 38), "White": (236, 236, 230), "Navy": (30, 45, 90), "Red": (190, 35, 45),
           "Green": (50, 120, 70), "Beige": (215, 195, 160), "Pink": (230, 150, 175), "Blue": (70, 120, 200),
           "Mustard": (215, 165, 40), "Grey": (140, 140, 145), "Brown": (120, 80, 50), "Lilac": (175, 150, 210)}
PATTERNS = ("Plain", "Striped", "Dotted")
W, H = 300, 400


def _tshirt(d):
    return [(60, 90), (110, 60), (190, 60), (240, 90), (270, 150), (225, 170), (215, 140), (215, 340), (85, 340), (85, 140),
            (75, 170), (30, 150)]


def _trousers(d):
    return [(90, 50), (210, 50), (225, 360), (165, 360), (150, 150), (135, 360), (75, 360)]


def _dress(d):
    return [(115, 50), (185, 50), (200, 120), (180, 160), (250, 360), (50, 360), (120, 160), (100, 120)]


def _skirt(d):
    return [(100, 110), (200, 110), (250, 320), (50, 320)]


def _bag(d):
    d.arc((100, 70, 200, 190), 180, 360, fill=(60, 60, 60), width=9)
    return [(70, 140), (230, 140), (250, 330), (50, 330)]


def _cap(d):
    d.ellipse((70, 150, 230, 290), fill=None)
    return [(80, 230), (100, 170), (150, 150), (200, 170), (220, 230), (280, 250), (270, 265), (80, 255)]


SHAPES = {"T-shirt": (_tshirt, "Tops"), "Trousers": (_trousers, "Trousers"), "Dress": (_dress, "Dresses"),
          "Skirt": (_skirt, "Skirts"), "Bag": (_bag, "Bags"), "Cap": (_cap, "Accessories")}


def draw(kind: str, colour: str, pattern: str, seed: int) -> Image.Image:
    """One garment on a light studio background with a soft shadow."""
    rng = random.Random(seed)
    image = Image.new("RGB", (W, H), (247, 246, 243))
    shadow = Image.new("L", (W, H), 0)
    outline, fill = SHAPES[kind][0](ImageDraw.Draw(image)), COLOURS[colour]
    ImageDraw.Draw(shadow).polygon([(x + 8, y + 10) for x, y in outline], fill=90)
    image.paste((205, 203, 198), mask=shadow.filter(ImageFilter.GaussianBlur(9)))
    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    cloth = Image.new("RGB", (W, H), fill)
    ink = tuple(255 - c if sum(fill) < 200 else max(0, c - 90) for c in fill)
    pen = ImageDraw.Draw(cloth)
    if pattern == "Striped":
        for y in range(0, H, 22):
            pen.rectangle((0, y, W, y + 8), fill=ink)
    elif pattern == "Dotted":
        for y in range(rng.randrange(8), H, 26):
            for x in range((y // 26) % 2 * 13, W, 26):
                pen.ellipse((x, y, x + 8, y + 8), fill=ink)
    image.paste(cloth, mask=mask)
    ImageDraw.Draw(image).polygon(outline, outline=tuple(max(0, c - 50) for c in fill), width=3)
    return image


def draw_catalog(folder: Path, count: int = 72) -> Path:
    """Pictures and a catalog.csv (id, title, category, colour, gender, price, sizes, image)."""
    import pandas as pd

    rng = random.Random(7)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    kinds, colours = list(SHAPES), list(COLOURS)
    for number in range(count):
        kind, colour = kinds[number % len(kinds)], colours[(number * 5 + number // len(kinds)) % len(colours)]
        pattern = PATTERNS[(number // 3) % len(PATTERNS)]
        path = folder / "images" / f"d{number:03d}.png"
        draw(kind, colour, pattern, number).save(path)
        title = f"{colour} {'' if pattern == 'Plain' else pattern + ' '}{kind}"
        gender = "Women" if kind in ("Dress", "Skirt") else rng.choice(["Women", "Men", "Unisex"])
        rows.append({"id": f"d{number:03d}", "title": title, "category": SHAPES[kind][1], "colour": colour,
                     "gender": gender, "price": round(rng.uniform(9, 120), 2) - 0.01,
                     "sizes": "" if kind in ("Bag", "Cap") else "XS|S|M|L|XL", "image": str(path)})
    pd.DataFrame(rows).to_csv(folder / "catalog.csv", index=False)
    return folder / "catalog.csv"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def photograph(store: Path, output: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "dressup.cli", "serve", "--store", str(store), "--port", str(port),
                               "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 820}, bypass_csp=True)  # waits evaluate strings
            page.goto(url + "/")
            page.wait_for_selector("#catalog-grid .card img")
            page.wait_for_function("[...document.querySelectorAll('#catalog-grid img')].every(i => i.complete)")
            page.screenshot(path=str(output / "web-page.png"))
            page.locator("#catalog-grid .card").nth(2).locator(".open").click()
            page.wait_for_selector("#product-similar .card img")
            page.wait_for_function("[...document.querySelectorAll('#product img')].every(i => i.complete)")
            page.screenshot(path=str(output / "web-product.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    from dressup import index_catalog

    with tempfile.TemporaryDirectory() as work:
        catalog = draw_catalog(Path(work) / "drawn")
        index_catalog(catalog, Path(work) / "store")
        args.output.mkdir(parents=True, exist_ok=True)
        photograph(Path(work) / "store", args.output, args.chromium)
    print(f"wrote {args.output / 'web-page.png'} and {args.output / 'web-product.png'}")


if __name__ == "__main__":
    main()
