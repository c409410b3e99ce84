"""The REST API, served by a real uvicorn process over a small real Mango store (see conftest `api_url`)."""

from __future__ import annotations

import io
import json
import time
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from conftest import ADMIN_KEY, running_server
from dressup import Store


@pytest.fixture(scope="module")
def client(api_url):
    with httpx.Client(base_url=api_url, timeout=60) as session:
        yield session


@pytest.fixture(scope="module")
def catalog(api_store):
    return Store.open(api_store).items


def signed_in(client, **body) -> dict:
    response = client.post("/users", json=body or None)
    assert response.status_code == 201, response.text
    account = response.json()
    return {"Authorization": f"Bearer {account['token']}", "user": account["user_id"]}


def auth(headers: dict) -> dict:
    return {"Authorization": headers["Authorization"]}


def photo_of(catalog, row: int = 0) -> bytes:
    with open(catalog["image"].iat[row], "rb") as handle:
        return handle.read()


# -- catalog and search -----------------------------------------------------------------------------

def test_health_and_browsing_with_filters(client, catalog):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["items"] == len(catalog)
    page = client.get("/items", params={"limit": 5, "offset": 3}).json()
    assert page["total"] == len(catalog) and [i["id"] for i in page["items"]] == catalog["id"].iloc[3:8].tolist()
    dresses = client.get("/items", params={"category": "Dress", "limit": 200}).json()
    assert dresses["total"] == int((catalog["category"] == "Dress").sum()) > 0
    assert all(i["category"] == "Dress" for i in dresses["items"])
    facets = client.get("/facets").json()
    assert "Dress" in facets["values"]["category"] and "Women" in facets["values"]["gender"]


def test_shop_the_look_needs_an_encoder_with_garment_types(client, catalog):
    response = client.post("/similar", params={"look": "true"}, files={"image": ("p.jpg", photo_of(catalog, 2), "image/jpeg")})
    assert response.status_code == 409 and "cannot tell the garments" in response.json()["detail"]


def test_item_its_image_and_unknown_ids(client, catalog):
    item_id = catalog["id"].iat[0]
    item = client.get(f"/items/{item_id}").json()
    assert item["id"] == item_id and item["title"] == catalog["title"].iat[0]
    image = client.get(item["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size[0] > 50
    for path in ("/items/no-such-item", "/items/no-such-item/similar", "/items/no-such-item/image"):
        response = client.get(path)
        assert response.status_code == 404 and "no-such-item" in response.json()["detail"]


def test_similar_by_id_respects_filters(client, catalog):
    item_id = catalog["id"].iat[0]
    found = client.get(f"/items/{item_id}/similar", params={"k": 8}).json()["items"]
    assert len(found) == 8 and item_id not in [i["id"] for i in found]
    assert [i["score"] for i in found] == sorted((i["score"] for i in found), reverse=True)
    filtered = client.get(f"/items/{item_id}/similar",
                          params={"k": 8, "category": ["Shoes", "Sandals"], "colour": "White"}).json()
    assert filtered["items"] and all(i["category"] in ("Shoes", "Sandals") and i["colour"] == "White" for i in filtered["items"])
    assert client.get(f"/items/{item_id}/similar", params={"where": "no_column=1"}).status_code == 422
    assert client.get(f"/items/{item_id}/similar", params={"k": 0}).status_code == 422


def test_upload_a_photo_finds_its_product_and_tags_it(client, catalog):
    response = client.post("/similar", files={"image": ("photo.jpg", photo_of(catalog, 5), "image/jpeg")}, data={"k": "3"})
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["id"] == catalog["id"].iat[5]
    tags = client.post("/tags", files={"image": ("photo.jpg", photo_of(catalog, 5), "image/jpeg")}).json()["tags"]
    assert {"articleType", "baseColour"} <= set(tags) and all(0 < t["confidence"] <= 1 for t in tags.values())
    labelled = client.post("/tags", files={"image": ("photo.jpg", photo_of(catalog, 5), "image/jpeg")},
                           data={"labels": "floral,striped,denim"}).json()
    assert sorted(t["value"] for t in labelled["zero_shot"]) == ["denim", "floral", "striped"]
    assert abs(sum(t["confidence"] for t in labelled["zero_shot"]) - 1) < 1e-3
    one = client.post("/tags", files={"image": ("photo.jpg", photo_of(catalog, 5), "image/jpeg")}, data={"labels": "x"})
    assert one.status_code == 422 and "at least two labels" in one.json()["detail"]


def bomb_png(side: int = 20_000) -> bytes:
    """A valid PNG header claiming side x side pixels, with a tiny compressed body: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_bad_uploads_are_4xx(client, catalog):
    cases = {
        "not an image": (b"hello, this is text", 422),
        "truncated": (photo_of(catalog)[:400], 422),
        "decompression bomb": (bomb_png(), 422),
        "crafted PPM": (b"P6\n2w5 2\n255\n" + b"\0" * 12, 422),  # Pillow's decoder raises ValueError on it
        "EPS (not an upload format)": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 422),
        "empty": (b"", 422),
    }
    for name, (data, code) in cases.items():
        for path in ("/similar", "/tags"):
            response = client.post(path, files={"image": ("x.jpg", data, "image/jpeg")})
            assert response.status_code == code, (name, path, response.text)
    assert "too many pixels" in client.post("/tags", files={"image": ("b.png", bomb_png(), "image/png")}).json()["detail"]
    assert client.post("/similar", data={"k": "3"}).status_code == 422  # no image at all


def test_uploads_over_10_mb_are_refused_without_being_read(client):
    big = b"\xff\xd8" + b"\0" * (11 * 1024 * 1024)
    response = client.post("/similar", files={"image": ("big.jpg", big, "image/jpeg")})
    assert response.status_code == 413

    def chunked():  # no Content-Length: the server must count as it reads, and stop
        yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        for _ in range(12):
            yield b"\0" * (1024 * 1024)

    response = client.post("/tags", content=chunked(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413


# -- users, events and recommendations --------------------------------------------------------------

def test_register_events_and_forget_me(client, catalog, api_store):
    from dressup.users import EventStore

    alice, bob = signed_in(client), signed_in(client)
    assert alice["user"] != bob["user"]
    item_id = catalog["id"].iat[10]
    for event in ({"item_id": item_id, "type": "like"}, {"item_id": item_id, "type": "rating", "value": 5},
                  {"item_id": item_id, "type": "purchase", "value": 29.9}, {"item_id": item_id, "type": "view"}):
        response = client.post("/users/me/events", json=event, headers=auth(alice))
        assert response.status_code == 201, response.text
    me = client.get("/users/me", headers=auth(alice)).json()
    assert me["user_id"] == alice["user"] and me["events"] == {"like": 1, "rating": 1, "purchase": 1, "view": 1}
    assert client.get("/users/me", headers=auth(bob)).json()["events"] == {}  # bob sees only his own
    assert client.delete("/users/me", headers=auth(alice)).status_code == 204
    assert client.get("/users/me", headers=auth(alice)).status_code == 401  # the token died with the account
    database = EventStore.open(api_store)
    assert not database.has_user(alice["user"]) and database.events(alice["user"]).empty
    assert database.has_user(bob["user"])


def test_auth_and_event_validation(client, catalog):
    item_id = catalog["id"].iat[0]
    assert client.get("/users/me").status_code == 401
    assert client.get("/users/me", headers={"Authorization": "Bearer forged-token"}).status_code == 401
    assert client.get("/users/me/recommendations", headers={"Authorization": "Basic abc"}).status_code == 401
    user = signed_in(client)
    post = lambda body: client.post("/users/me/events", json=body, headers=auth(user))
    assert post({"item_id": item_id, "type": "rating", "value": 6}).status_code == 422
    assert post({"item_id": item_id, "type": "rating"}).status_code == 422
    assert post({"item_id": item_id, "type": "wink"}).status_code == 422
    assert post({"item_id": "no-such-item", "type": "like"}).status_code == 404
    assert client.get("/users/me", headers=auth(user)).json()["events"] == {}  # nothing half-written
    admin = {"X-API-Key": ADMIN_KEY}
    assert client.post("/users", json={"user_id": user["user"]}, headers=admin).status_code == 409  # not handed over


def test_a_chosen_user_id_needs_the_admin_key_so_no_one_claims_a_customer_before_the_import(client, api_store, catalog):
    from dressup.users import EventStore

    claimed = client.post("/users", json={"user_id": "shop/1234"})
    assert claimed.status_code == 401 and "admin key" in claimed.json()["detail"]
    database = EventStore.open(api_store)
    assert not database.has_user("shop/1234")  # nothing was created
    database.add("shop/1234", catalog["id"].iat[0], "purchase")  # the shop's import
    database.close()
    token = client.post("/users/shop%2F1234/token", headers={"X-API-Key": ADMIN_KEY}).json()["token"]
    assert client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).json()["events"] == {"purchase": 1}
    chosen_by_server = client.post("/users").json()
    assert chosen_by_server["user_id"].startswith("u-") and chosen_by_server["expires_at"]


def test_a_user_rotates_their_token_and_the_old_one_stops_working(client):
    user = signed_in(client)
    rotated = client.post("/users/me/token", headers=auth(user))
    assert rotated.status_code == 200 and rotated.json()["user_id"] == user["user"]
    assert client.get("/users/me", headers=auth(user)).status_code == 401
    assert client.get("/users/me", headers={"Authorization": f"Bearer {rotated.json()['token']}"}).status_code == 200
    assert client.post("/users/me/token").status_code == 401


def test_feed_follows_likes(client, catalog):
    user = signed_in(client)
    cold = client.get("/users/me/recommendations", params={"k": 6}, headers=auth(user)).json()["items"]
    assert len(cold) == 6
    for row in catalog.index[catalog["category"] == "Sandals"][:3]:
        client.post("/users/me/events", json={"item_id": catalog["id"].iat[row], "type": "like"}, headers=auth(user))
    warm = client.get("/users/me/recommendations", params={"k": 6}, headers=auth(user)).json()["items"]
    assert [i["id"] for i in warm] != [i["id"] for i in cold]
    assert sum(i["attributes"]["des_product_family"] == "Footwear" for i in warm) >= 3
    filtered = client.get("/users/me/recommendations", params={"k": 6, "category": "Handbag"}, headers=auth(user)).json()["items"]
    assert filtered and all(i["category"] == "Handbag" for i in filtered)


def test_recommend_from_liked_items_and_outfits(client, catalog):
    liked = catalog["id"].iloc[:3].tolist()
    found = client.post("/recommend", json={"liked": liked, "k": 5}).json()["items"]
    assert len(found) == 5 and not set(liked) & {i["id"] for i in found} and all(i["reason"] for i in found)
    nested = client.post("/recommend", json={"liked": liked, "k": 5, "filters": {"category": "Dress"}}).json()["items"]
    assert nested and all(i["category"] == "Dress" for i in nested)
    assert client.post("/recommend", json={"liked": ["no-such-item"]}).status_code == 422
    top = catalog.loc[catalog["attr:des_product_family"] == "Tops", "id"].iat[0]
    outfits = client.post("/outfits", json={"items": [top], "n": 2}).json()["outfits"]
    assert len(outfits) == 2
    for outfit in outfits:
        assert outfit["items"][0]["id"] == top and outfit["items"][0]["given"]
        assert len(outfit["items"]) >= 3 and all(i["image_url"] for i in outfit["items"])
    assert client.post("/outfits", json={"items": ["no-such-item"]}).status_code == 404


# -- catalog writes -----------------------------------------------------------------------------------

def test_catalog_writes_need_the_admin_key_and_update_the_index_live(client, catalog):
    photo = photo_of(catalog, 20)
    form = {"id": "new-dress-1", "title": "Test dress", "category": "Dress", "price": "49.5", "sizes": "S|M",
            "attributes": '{"des_product_family": "Dresses"}'}
    files = {"image": ("new.jpg", photo, "image/jpeg")}
    assert client.post("/items", data=form, files=files).status_code == 401
    assert client.post("/items", data=form, files=files, headers={"X-API-Key": "wrong"}).status_code == 401
    admin = {"X-API-Key": ADMIN_KEY}
    created = client.post("/items", data=form, files=files, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["price"] == 49.5 and created.json()["sizes"] == ["S", "M"]
    assert client.post("/items", data=form, files=files, headers=admin).status_code == 409
    found = client.post("/similar", files={"image": ("q.jpg", photo, "image/jpeg")}, data={"k": "2"}).json()["items"]
    assert "new-dress-1" in [i["id"] for i in found]
    image = client.get("/items/new-dress-1/image")
    assert image.content == photo and image.headers["content-type"] == "image/jpeg"
    changed = client.put("/items/new-dress-1", data={"price": "39", "colour": "Red"}, headers=admin).json()
    assert changed["price"] == 39 and changed["colour"] == "Red" and changed["title"] == "Test dress"
    assert client.put("/items/new-dress-1", data={"price": "-3"}, headers=admin).status_code == 422
    assert client.put("/items/new-dress-1", data={"attributes": '{"w": Infinity}'}, headers=admin).status_code == 422
    text_column = client.put("/items/new-dress-1", data={"attributes": '{"des_line": 5}'}, headers=admin)  # a number in text
    assert text_column.status_code == 200 and text_column.json()["attributes"]["des_line"] == "5"
    json.loads(client.get("/items/new-dress-1/similar", params={"k": 3}).text)  # strict JSON
    assert client.post("/items", data={**form, "id": "x2"}, files={"image": ("x.jpg", b"nope", "image/jpeg")},
                       headers=admin).status_code == 422
    assert client.delete("/items/new-dress-1", headers=admin).status_code == 204
    assert client.get("/items/new-dress-1").status_code == 404
    assert client.get("/health").json()["items"] == len(catalog)


def test_users_on_postgresql(api_store, postgres_url, catalog, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(api_store, store, ignore=shutil.ignore_patterns("users.sqlite*"))
    with running_server(store, DRESSUP_DATABASE_URL=postgres_url) as url, httpx.Client(base_url=url, timeout=60) as session:
        user = signed_in(session)
        item_id = catalog["id"].iat[0]
        assert session.post("/users/me/events", json={"item_id": item_id, "type": "like"}, headers=auth(user)).status_code == 201
        assert session.get("/users/me", headers=auth(user)).json()["events"] == {"like": 1}
        assert len(session.get("/users/me/recommendations", params={"k": 4}, headers=auth(user)).json()["items"]) == 4
        assert session.delete("/users/me", headers=auth(user)).status_code == 204
        added = session.post("/items", data={"id": "pg-new", "title": "Journalled in PostgreSQL"},
                             files={"image": ("new.jpg", photo_of(catalog, 3), "image/jpeg")}, headers={"X-API-Key": ADMIN_KEY})
        assert added.status_code == 201, added.text
    assert not (store / "users.sqlite").exists()  # users, events and the catalog journal all live in PostgreSQL
    with running_server(store, DRESSUP_DATABASE_URL=postgres_url) as url, httpx.Client(base_url=url, timeout=60) as session:
        assert session.get("/items/pg-new").json()["title"] == "Journalled in PostgreSQL"


def test_numbers_json_cannot_hold_are_a_422_not_a_500(client, catalog):
    user = signed_in(client)
    item_id = catalog["id"].iat[0]
    for value in ("NaN", "Infinity", "-Infinity", "1e400"):
        body = f'{{"item_id": "{item_id}", "type": "rating", "value": {value}}}'
        response = client.post("/users/me/events", content=body, headers={**auth(user), "Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "value"]
    response = client.post("/recommend", content=f'{{"liked": ["{item_id}"], "k": 1e400}}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["input"] == "inf"
    assert client.get("/users/me", headers=auth(user)).json()["events"] == {}


def test_an_imported_customer_gets_a_token_from_the_admin(client, api_store):
    from dressup.users import EventStore

    database = EventStore.open(api_store)
    database.add("imported-customer-7", "0706016001", "purchase", 25.0)
    database.close()
    admin = {"X-API-Key": ADMIN_KEY}
    assert client.post("/users/imported-customer-7/token").status_code == 401
    assert client.post("/users/nobody-at-all/token", headers=admin).status_code == 404
    first = client.post("/users/imported-customer-7/token", headers=admin).json()
    second = client.post("/users/imported-customer-7/token", headers=admin).json()
    assert first["user_id"] == second["user_id"] == "imported-customer-7" and first["token"] != second["token"]
    me = client.get("/users/me", headers={"Authorization": f"Bearer {second['token']}"}).json()
    assert me["events"] == {"purchase": 1}
    assert client.get("/users/me", headers={"Authorization": f"Bearer {first['token']}"}).status_code == 401


def test_user_ids_follow_one_rule_in_the_api_and_the_import(client, api_store):
    """Ids the import accepts ('/' and spaces included) are reachable here; control characters are refused everywhere."""
    from dressup.users import EventStore

    database = EventStore.open(api_store)
    database.add("shop/jane doe", "0706016001", "view")
    database.close()
    token = client.post("/users/shop%2Fjane%20doe/token", headers={"X-API-Key": ADMIN_KEY}).json()["token"]
    assert client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).json()["user_id"] == "shop/jane doe"
    admin = {"X-API-Key": ADMIN_KEY}
    assert client.post("/users", json={"user_id": "shop/john doe"}, headers=admin).json()["user_id"] == "shop/john doe"
    refused = client.post("/users", json={"user_id": "john\ndoe"}, headers=admin)
    assert refused.status_code == 422 and "control character" in refused.json()["detail"]


def test_no_server_path_is_published_or_can_be_probed(client, catalog, api_store):
    item = client.get(f"/items/{catalog['id'].iat[0]}")
    assert item.status_code == 200 and str(api_store) not in item.text and catalog["image"].iat[0] not in item.text
    listed = client.get("/items", params={"limit": 50})
    assert "/" not in json.dumps([{k: v for k, v in i.items() if k != "image_url"} for i in listed.json()["items"]])
    probe = client.get("/items", params={"where": f"image={catalog['image'].iat[0]}"})
    assert probe.status_code == 422 and "cannot be filtered on" in probe.text


def test_items_whose_ids_hold_a_slash_are_reachable(tmp_path, styles, encoder):
    """Shops' SKUs such as "AB/12": every /items/{id} route takes them percent-encoded."""
    from urllib.parse import quote

    from conftest import fpi_table
    from dressup import index_catalog

    table = fpi_table(styles, 8)
    table["id"] = [f"AB/{i}" for i in table["id"]]
    table.loc[2, "id"], table.loc[3, "id"] = table["id"].iat[0] + "/image", table["id"].iat[0] + "/similar"
    table.to_csv(tmp_path / "catalog.csv", index=False)
    index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder=encoder)
    first, second = table["id"].iat[0], table["id"].iat[1]
    with running_server(tmp_path / "store") as url, httpx.Client(base_url=url, timeout=60) as session:
        item = session.get(f"/items/{quote(first, safe='')}").json()
        assert item["id"] == first and item["image_url"] == f"/items/{quote(first, safe='')}/image"
        assert session.get(item["image_url"]).headers["content-type"] == "image/jpeg"
        similar = session.get(f"/items/{quote(first, safe='')}/similar", params={"k": 3}).json()["items"]
        assert len(similar) == 3 and first not in [s["id"] for s in similar]
        assert session.delete(f"/items/{quote(second, safe='')}", headers={"X-API-Key": ADMIN_KEY}).status_code == 204
        assert session.get(f"/items/{quote(second, safe='')}").status_code == 404
        assert session.get("/items/AB%2Fnone").json()["detail"].startswith("unknown item")
        for suffixed in table["id"].iloc[2:4]:  # "AB/x/image" is an item of its own, not AB/x's photo
            assert session.get(f"/items/{quote(suffixed, safe='')}").json()["id"] == suffixed
            assert session.get(f"/items/{quote(suffixed, safe='')}/image").content == Path(table["image"].iat[
                table.index[table["id"] == suffixed][0]]).read_bytes()
        assert session.get(f"/items/{quote(first, safe='')}/image").content == Path(table["image"].iat[0]).read_bytes()
        assert session.get(f"/items/{first}").status_code == 404  # a "/" not encoded is a separator, never part of an id
        assert session.get(f"/items/%20{quote(first, safe='')}%20").json()["id"] == first  # stripped, as on add
        with open(table["image"].iat[1], "rb") as photo:  # the catalog API takes such ids too, not line breaks
            files, admin = {"image": ("new.jpg", photo.read(), "image/jpeg")}, {"X-API-Key": ADMIN_KEY}
        assert session.post("/items", data={"id": "AB/new", "title": "New"}, files=files, headers=admin).status_code == 201
        assert session.put("/items/AB%2Fnew", data={"title": "Renamed"}, headers=admin).json()["title"] == "Renamed"
        refused = session.post("/items", data={"id": "AB\nnew"}, files=files, headers=admin)
        assert refused.status_code == 422 and "line breaks" in refused.json()["detail"]


def wait_for(check, seconds: float = 5.0) -> float:
    """Seconds until ``check()`` holds (polled every 10 ms); fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - started


def test_an_edit_taken_by_one_server_is_served_by_another_within_a_second(mango_store, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(mango_store / "store", store)
    catalog = Store.open(store).items
    admin = {"X-API-Key": ADMIN_KEY}
    with running_server(store) as first, running_server(store) as second, \
            httpx.Client(base_url=first, timeout=60) as a, httpx.Client(base_url=second, timeout=60) as b:
        assert b.get("/items/shared-1").status_code == 404
        added = a.post("/items", data={"id": "shared-1", "title": "Shared"}, headers=admin,
                       files={"image": ("p.jpg", photo_of(catalog, 3), "image/jpeg")})
        assert added.status_code == 201 and a.get("/items/shared-1").status_code == 200  # at once where it was taken
        assert wait_for(lambda: b.get("/items/shared-1").status_code == 200) < 1.0
        assert b.put("/items/shared-1", data={"in_stock": "false"}, headers=admin).json()["in_stock"] is False
        assert wait_for(lambda: a.get("/items/shared-1").json()["in_stock"] is False) < 1.0
        found = lambda client, **extra: [i["id"] for i in client.get(f"/items/{catalog['id'].iat[3]}/similar",
                                                                     params={"k": 5, **extra}).json()["items"]]
        assert "shared-1" not in found(a) and "shared-1" in found(a, include_unavailable="true")  # the same photo, sold out
        assert b.delete("/items/shared-1", headers=admin).status_code == 204
        assert wait_for(lambda: a.get("/items/shared-1").status_code == 404) < 1.0


def test_the_page_and_the_api_send_security_headers(client):
    page = client.get("/")
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/health").headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in client.get("/docs").headers  # Swagger UI starts with an inline script


def test_uploads_are_rate_limited_per_client_with_a_retry_after(api_store, catalog):
    photo = {"image": ("p.jpg", photo_of(catalog), "image/jpeg")}
    with running_server(api_store, DRESSUP_UPLOAD_RATE="3/minute") as url, httpx.Client(base_url=url, timeout=60) as session:
        answers = [session.post("/similar", files=photo).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = session.post("/tags", files=photo)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "at most 3 per 1 minute" in refused.json()["detail"]
        assert session.get("/items", params={"limit": 2}).status_code == 200  # reads are not limited


def test_a_request_sent_a_byte_at_a_time_is_cut_off_while_others_are_served(api_store):
    import socket

    with running_server(api_store, DRESSUP_REQUEST_TIMEOUT="2") as url, httpx.Client(base_url=url, timeout=10) as session:
        port = int(url.rsplit(":", 1)[1])
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        began, closed_after = time.monotonic(), {}
        while time.monotonic() - began < 3.5:
            for number, sock in enumerate(slow):
                try:
                    sock.sendall(b"X")
                except OSError:  # the server closed it
                    closed_after.setdefault(number, time.monotonic() - began)
            assert session.get("/health").status_code == 200
            time.sleep(0.3)
        for sock in slow:
            sock.settimeout(2)
            try:
                assert sock.recv(1) == b""  # closed by the server
            except ConnectionResetError:
                pass
            sock.close()
        assert min(closed_after.values(), default=2) >= 1.5  # not before their time
