"""The web page, driven end to end in Debian's headless Chromium (Playwright) against a real server."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("DRESSUP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# where the screenshots are kept (git-ignored: they show the datasets' photos); the README shows web-page.png
SCREENSHOTS = Path(os.environ.get("DRESSUP_SCREENSHOTS") or REPO / "docs" / "screenshots")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("DRESSUP_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here but not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, api_url):
    # Playwright's wait_for_function evaluates strings, which the page's content policy forbids; the policy itself is
    # tested in test_the_page_runs_under_its_content_security_policy
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=api_url, bypass_csp=True)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/")
    page.wait_for_selector("#catalog-grid .card img")
    yield page
    context.close()
    assert not problems, problems


def test_the_page_runs_under_its_content_security_policy(browser, api_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=api_url)
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    response = page.goto("/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.wait_for_selector("#catalog-grid .card img")
    page.locator("#catalog-grid .card").first.locator(".similar").click()
    page.wait_for_selector("#similar-grid .card img")
    context.close()
    assert not [p for p in problems if "Content Security Policy" in p], problems


def test_api_docs_render_with_no_network(browser, api_url):
    context = browser.new_context(base_url=api_url)
    elsewhere = []

    def only_this_server(route):  # every request to another host is refused, as on a machine with no network
        if route.request.url.startswith(api_url):
            return route.continue_()
        if route.request.resource_type != "image":  # ReDoc's footer logo is the one picture it asks of its CDN
            elsewhere.append(route.request.url)
        return route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=15_000)  # Swagger UI drew the operations
    assert "/users/me/recommendations" in page.locator(".swagger-ui").inner_text()
    page.goto("/redoc")
    page.wait_for_selector("[data-section-id]", timeout=15_000)  # ReDoc drew its sections
    context.close()
    assert not elsewhere, elsewhere


def test_a_notice_goes_away_by_itself_and_at_a_click(page, tmp_path):
    page.locator("nav button[data-view=photo]").click()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo at all")
    page.set_input_files("#upload input[type=file]", str(broken))
    notice = page.locator("#message")
    notice.wait_for(state="visible")
    assert "format DressUp reads" in notice.inner_text()  # the reason the photo was refused, in the shop's words
    assert page.locator("#query img").count() == 0  # no broken preview of the refused photo
    notice.wait_for(state="hidden", timeout=9_000)  # gone within a few seconds, without a click
    again = tmp_path / "broken-again.jpg"  # another file: the same one again is no change to the input
    again.write_bytes(b"still not a photo")
    page.set_input_files("#upload input[type=file]", str(again))
    notice.wait_for(state="visible")
    notice.click()
    notice.wait_for(state="hidden", timeout=1_000)


def cards(page, grid: str) -> list[str]:
    return page.locator(f"{grid} .card").evaluate_all("cards => cards.map(c => c.dataset.id)")


def images_rendered(page, grid: str) -> bool:
    """Every image of the grid loaded and decoded (a broken image has naturalWidth 0); lazy ones below the fold are
    asked for first."""
    page.locator(f"{grid} img").evaluate_all("images => images.forEach(i => { i.loading = 'eager'; })")
    page.wait_for_function(f"[...document.querySelectorAll('{grid} img')].every(i => i.complete)")
    return page.locator(f"{grid} img").evaluate_all("images => images.length > 0 && images.every(i => i.naturalWidth > 0)")


def save(page, name: str) -> np.ndarray:
    picture = page.screenshot()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / name).write_bytes(picture)
    return np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))


def test_browse_filter_and_see_images(page):
    assert len(cards(page, "#catalog-grid")) == 24
    assert images_rendered(page, "#catalog-grid")
    pixels = save(page, "web-page.png")
    photos = pixels[180:880]  # the product grid, below the header and filters
    assert (np.abs(photos.astype(int) - 250).max(axis=2) > 40).mean() > 0.05  # product photos, not blank boxes
    page.select_option("#filters select[name=category]", "Dress")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('68 ')")
    categories = page.locator("#catalog-grid .card .category").all_text_contents()
    assert categories and all(c.endswith("Dress") for c in categories)


def test_similar_items_and_photo_search_with_tags(page, api_store):
    first = cards(page, "#catalog-grid")[0]
    page.locator("#catalog-grid .card").first.locator(".similar").click()
    page.wait_for_selector("#similar-grid .card")
    similar = cards(page, "#similar-grid")
    assert len(similar) == 12 and first not in similar
    from dressup import Store

    items = Store.open(api_store).items
    page.set_input_files("#upload input[type=file]", items["image"].iat[7])
    page.wait_for_selector("#tags dt")
    page.wait_for_function(f"document.querySelector('#similar-grid .card').dataset.id === '{items['id'].iat[7]}'")
    assert page.locator("#similar-grid .card .note").first.inner_text() == "looks like your photo"  # why it is there
    assert page.locator("#tags dt").all_text_contents()[:2] == ["Type", "Colour"]  # in the shopper's words
    assert page.locator("#tags dt").first.get_attribute("title") == "articleType"
    assert images_rendered(page, "#similar-grid")


def test_search_box_shows_results_as_you_type(page):
    searches = []
    page.on("request", lambda request: searches.append(request.url) if "/search?" in request.url else None)
    page.locator("#search input").press_sequentially("sandals", delay=30)
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.includes('results for \u201csandals')")
    assert len(searches) == 1 and "q=sandals" in searches[0]  # debounced: one request for the whole word
    categories = page.locator("#catalog-grid .card .category").all_text_contents()
    assert len(categories) >= 19 and all(c.endswith("Sandals") for c in categories[:19])  # the store's 19 sandals first
    assert "Sandals first" in page.locator("#catalog-summary").inner_text()
    save(page, "web-search.png")
    page.select_option("#filters select[name=category]", "Dress")  # filters apply to the search typed
    page.click("#filters button[type=submit]")
    page.wait_for_function("[...document.querySelectorAll('#catalog-grid .card .category')].every("
                           "c => c.textContent.endsWith('Dress'))")
    page.fill("#search input", "")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('68 items')")


def test_refine_a_photo_with_words(page, api_store):
    from dressup import Store

    items = Store.open(api_store).items
    photo = items.loc[items["category"] == "Dress", "image"].iat[0]
    assert page.locator("#refine").is_hidden()
    page.click("nav button[data-view=photo]")
    page.set_input_files("#upload input[type=file]", photo)
    page.wait_for_selector("#similar-grid .card")
    page.fill("#refine input", "but sandals")
    page.click("#refine button[type=submit]")
    page.wait_for_function("document.querySelector('#similar-title').textContent.startsWith('Like this photo')")
    categories = page.locator("#similar-grid .card .category").all_text_contents()
    assert len(categories) == 12 and all(c.endswith("Sandals") for c in categories)
    assert "category Sandals" in page.locator("#similar-title").inner_text()


def test_likes_update_the_feed(page):
    page.click("nav button[data-view=feed]")
    page.wait_for_selector("#feed-grid .card")
    assert len(cards(page, "#feed-grid")) == 12  # a new visitor gets popular items at once
    assert "Popular now" in page.locator("#feed-summary").inner_text()
    page.click("nav button[data-view=catalog]")
    page.select_option("#filters select[name=category]", "Sandals")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('19 ')")
    liked = cards(page, "#catalog-grid")[:3]
    for number in range(3):
        page.locator("#catalog-grid .card .like").nth(number).click()
        page.wait_for_selector(f"#catalog-grid .card:nth-child({number + 1}) .like.liked")
    page.select_option("#filters select[name=category]", "")
    page.click("#filters button[type=submit]")
    page.click("nav button[data-view=feed]")
    page.wait_for_function("document.querySelector('#feed-summary').textContent.startsWith('Picked for you')")
    feed = cards(page, "#feed-grid")
    assert len(feed) == 12 and not set(liked) & set(feed)  # what you liked is not shown back to you
    categories = page.locator("#feed-grid .card .category").all_text_contents()
    assert sum("Sandals" in c or "Shoes" in c for c in categories) >= 3
    assert any(n.startswith("because you liked ") for n in page.locator("#feed-grid .card .note").all_text_contents())
    save(page, "web-feed.png")
    page.reload()  # likes stay liked after a reload, wherever the item shows
    page.wait_for_selector("#catalog-grid .card img")
    page.select_option("#filters select[name=category]", "Sandals")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('19 ')")
    page.wait_for_function("document.querySelectorAll('#catalog-grid .like.liked').length === 3")
    assert sorted(page.locator("#catalog-grid .card:has(.like.liked)").evaluate_all("cs => cs.map(c => c.dataset.id)")) \
        == sorted(liked)
    page.click("#account button")  # forget me
    page.wait_for_function("document.querySelector('#account').textContent.includes('Like items')")
    assert page.locator("#catalog-grid .like.liked").count() == 0


def test_cart_and_similar_send_signals(page, api_store):
    from dressup.users import EventStore

    first, second = cards(page, "#catalog-grid")[:2]
    page.locator("#catalog-grid .card").nth(0).locator(".add").click()  # opens an account: a cart add is intent
    page.wait_for_function("!!localStorage.getItem('dressup.user')")
    user = page.evaluate("localStorage.getItem('dressup.user')")
    page.locator("#catalog-grid .card").nth(1).locator(".similar").click()
    page.wait_for_selector("#similar-grid .card")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kinds = dict(zip(*[EventStore.open(api_store).events(user=user)[c] for c in ("item", "kind")]))
        if len(kinds) == 2:
            break
        time.sleep(0.2)
    assert kinds == {first: "cart", second: "view"}


def test_cart_to_complete_outfits(page):
    page.select_option("#filters select[name=category]", "Top")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('60 ')")
    top = cards(page, "#catalog-grid")[0]
    page.locator("#catalog-grid .card").first.locator(".add").click()
    page.click("nav button[data-view=cart]")
    page.wait_for_selector("#cart-grid .card")
    assert cards(page, "#cart-grid") == [top]
    page.click("#complete")
    page.wait_for_selector("#outfits .outfit")
    outfits = page.locator("#outfits .outfit")
    assert outfits.count() == 3
    assert outfits.first.get_attribute("data-source") == "stylist"  # every product of the test store is in a look
    assert "by our stylists" in outfits.first.locator("h3").first.inner_text()
    assert outfits.last.get_attribute("data-source") == "generated"
    for number in range(3):
        ids = cards(page, f"#outfits .outfit:nth-child({number + 1}) .grid")
        assert ids[0] == top and len(ids) >= 3
    assert images_rendered(page, "#outfits")
    save(page, "web-outfits.png")


def test_shop_the_look_marks_each_garment_and_shows_its_products(browser, look_store, tmp_path):
    from conftest import compose_look, running_server

    compose_look([10367, 11248, 10198], tmp_path / "look.png")  # a shirt, trousers and a handbag
    with running_server(look_store) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 1100}, base_url=url, bypass_csp=True)
        page = context.new_page()
        page.goto("/")
        page.wait_for_selector("#catalog-grid .card img")
        page.click("nav button[data-view=photo]")
        page.check("#upload input[name=look]")
        page.set_input_files("#upload input[type=file]", str(tmp_path / "look.png"))
        page.wait_for_selector("#garments .garment .card")
        marks = page.locator(".look .garment-box").all_text_contents()
        assert {"tops", "trousers", "bags"} <= {mark.split(" ", 1)[1] for mark in marks}
        assert page.locator("#garments .garment").count() == len(marks)
        assert images_rendered(page, "#garments")
        frame = page.locator(".look").bounding_box()
        for box in page.locator(".look .garment-box").evaluate_all("marks => marks.map(m => m.getBoundingClientRect().toJSON())"):
            assert frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
        save(page, "shop-the-look.png")
        context.close()


def test_similar_and_search_use_the_applied_filters_not_the_form_being_edited(page):
    first = page.locator("#catalog-grid .card").first
    title = first.locator("h3").inner_text()
    page.select_option("#filters select[name=category]", "Sandals")  # chosen, not applied
    assert page.locator("#unapplied").is_visible()
    first.locator(".similar").click()
    page.wait_for_selector("#similar-grid .card")
    categories = page.locator("#similar-grid .card .category").all_text_contents()
    assert len(categories) == 12 and not all(c.endswith("Sandals") for c in categories)
    notes = page.locator("#similar-grid .card .note").all_text_contents()
    assert all(note == f"looks like {title}" for note in notes)
    page.click("#filters button[type=submit]")
    assert page.locator("#unapplied").is_hidden()
    page.click("nav button[data-view=catalog]")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('19 ')")


def test_a_cart_change_replaces_the_outfits_shown(page):
    ids = cards(page, "#catalog-grid")
    page.locator("#catalog-grid .card").nth(0).locator(".add").click()
    page.locator("#catalog-grid .card").nth(1).locator(".add").click()
    page.click("nav button[data-view=cart]")
    page.wait_for_selector("#cart-grid .card:nth-child(2)")
    page.click("#complete")
    page.wait_for_selector("#outfits .outfit")
    given = page.locator("#outfits .outfit .card").evaluate_all(
        "cs => cs.filter(c => c.querySelector('.note').textContent === 'in your cart').map(c => c.dataset.id)")
    assert set(given) == set(ids[:2])
    notes = page.locator("#outfits .outfit .card .note").all_text_contents()
    assert any("often worn with" in n or "in a stylist's outfit with" in n for n in notes)  # why each item is there
    page.locator("#cart-grid .card").nth(1).locator(".add").click()  # remove the second item
    page.wait_for_function(f"""() => {{
        const cards = [...document.querySelectorAll('#outfits .outfit .card')];
        return cards.length > 0 && !cards.some(c => c.dataset.id === '{ids[1]}');
    }}""")
    assert cards(page, "#cart-grid") == [ids[0]]
    page.locator("#cart-grid .card").first.locator(".add").click()  # the cart is empty: no outfit stays
    page.wait_for_function("document.querySelectorAll('#outfits .outfit').length === 0")
    assert page.locator("#complete").is_hidden() and "empty" in page.locator("#cart-summary").inner_text()


def test_a_product_page_by_mouse_and_by_keyboard(page):
    first = page.locator("#catalog-grid .card").first
    item, title = first.get_attribute("data-id"), first.locator("h3").inner_text()
    assert first.locator("img").get_attribute("alt") == title
    first.locator(".open").click()
    page.wait_for_selector("#product-similar .card")
    assert page.locator("#product").is_visible() and page.locator("#product-title").inner_text() == title
    assert page.evaluate("document.activeElement.id") == "product-title"  # focus moves to what opened
    assert "Category" in page.locator("#product-details").inner_text()
    assert len(cards(page, "#product-similar")) == 8 and item not in cards(page, "#product-similar")
    page.wait_for_selector("#product-outfits .outfit")  # the store has an outfit model: complete the look
    assert cards(page, "#product-outfits .outfit:first-child .grid")[0] == item
    assert images_rendered(page, "#product")
    save(page, "web-product.png")
    page.go_back()
    page.wait_for_selector("#catalog.active")
    second = page.locator("#catalog-grid .card").nth(1)
    second.locator(".open").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#product-title').textContent === "
                           f"{second.locator('h3').inner_text()!r}")
    page.reload()  # a product page has its own address
    page.wait_for_selector("#product-similar .card")
    assert page.locator("#product").is_visible()


def test_a_loading_state_shows_while_results_come(page):
    page.evaluate("""() => {
        window.busySeen = false;
        new MutationObserver(() => { if (document.querySelector('#catalog-grid[aria-busy=true]')) window.busySeen = true; })
            .observe(document.querySelector('#catalog-grid'), {attributes: true});
    }""")
    page.select_option("#filters select[name=category]", "Dress")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelector('#catalog-summary').textContent.startsWith('68 ')")
    assert page.evaluate("window.busySeen") and page.locator("#catalog-grid[aria-busy]").count() == 0


def test_more_products_come_as_the_shopper_scrolls(page):
    assert len(cards(page, "#catalog-grid")) == 24
    page.mouse.wheel(0, 20_000)
    page.wait_for_function("document.querySelectorAll('#catalog-grid .card').length >= 48")
    ids = cards(page, "#catalog-grid")
    assert len(ids) == len(set(ids))  # each page once


def test_the_page_on_a_phone(browser, api_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=api_url, bypass_csp=True,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/")
    page.wait_for_selector("#catalog-grid .card img")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # nothing wider than the screen
    boxes = page.locator("#catalog-grid .card").evaluate_all("cs => cs.slice(0, 4).map(c => c.getBoundingClientRect().x)")
    assert len(set(round(x) for x in boxes)) == 2  # two columns of cards
    save(page, "web-phone.png")
    page.locator("#catalog-grid .card").first.locator(".open").click()
    page.wait_for_selector("#product-similar .card")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    save(page, "web-phone-product.png")
    context.close()


def test_filters_a_store_cannot_use_are_not_offered(browser, hm_store_path, page):
    from conftest import running_server

    assert page.locator("#budget").is_hidden() and page.locator("#size").is_hidden()  # Mango: no prices, no sizes
    page.locator("#catalog-grid .card").first.locator(".add").click()
    page.click("nav button[data-view=cart]")
    page.wait_for_selector("#cart-grid .card")
    assert page.locator("#complete").is_visible()  # it has an outfit model
    with running_server(hm_store_path) as url:  # H&M: prices, no sizes, no outfit model
        context = browser.new_context(base_url=url, bypass_csp=True)
        other = context.new_page()
        other.goto("/")
        other.wait_for_selector("#catalog-grid .card img")
        other.wait_for_selector("#budget", state="visible")
        assert other.locator("#size").is_hidden()
        other.locator("#catalog-grid .card").first.locator(".add").click()
        other.click("nav button[data-view=cart]")
        other.wait_for_selector("#cart-grid .card")
        assert other.locator("#complete").is_hidden()
        other.goto("/#item/" + other.locator("#cart-grid .card").first.get_attribute("data-id"))
        other.wait_for_selector("#product-similar .card")
        assert other.locator("#product-look").is_hidden()
        context.close()


def test_a_promoted_product_is_marked_and_says_why(page, api_url, api_store):
    import httpx

    from conftest import ADMIN_KEY

    first = cards(page, "#catalog-grid")[0]
    promoted = cards(page, "#catalog-grid")[20]
    rules = {"rules": [{"action": "pin", "item": promoted, "slot": 1, "surfaces": ["similar"], "name": "new season"}]}
    admin = {"X-API-Key": ADMIN_KEY}
    assert httpx.put(f"{api_url}/admin/rules", json=rules, headers=admin).status_code == 200
    try:
        time.sleep(1.2)  # every server worker takes the rules in within a second
        page.locator("#catalog-grid .card").first.locator(".similar").click()
        page.wait_for_selector("#similar-grid .card .badge")
        top = page.locator("#similar-grid .card").first
        assert top.get_attribute("data-id") == promoted and first not in cards(page, "#similar-grid")
        assert top.locator(".badge").inner_text() == "Promoted" and top.locator(".badge").get_attribute("title") == "new season"
        assert top.locator(".note").inner_text() == "promoted"
    finally:
        httpx.put(f"{api_url}/admin/rules", json={"rules": []}, headers=admin)
        time.sleep(1.2)
