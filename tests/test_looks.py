"""Shop the look: the garments of a photo, found with the fashion encoder's own type head, and each one's items."""

from __future__ import annotations

import json

import httpx
import pytest
from PIL import Image

from conftest import MANGO, compose_look, dressup, fails_cleanly, running_server
from dressup import Store
from dressup.looks import GarmentFinder, NoGarmentTypesError, overlap
from dressup.product_types import coarse_type

SHIRT, TROUSERS, HANDBAG, SHOES, WATCH = 10367, 11248, 10198, 10144, 10108  # Fashion Product Images products


@pytest.fixture(scope="module")
def store(look_store):
    opened = Store.open(look_store)
    yield opened
    opened.close()


def test_a_shirt_trousers_and_a_bag_are_three_garments_each_in_its_place(store, tmp_path):
    boxes = compose_look([SHIRT, TROUSERS, HANDBAG], tmp_path / "look.png")
    garments = store.garment_finder.find(Image.open(tmp_path / "look.png"))
    for kind, truth in zip(["tops", "trousers", "bags"], boxes, strict=True):
        found = [g for g in garments if g.type == kind]
        assert found and max(overlap(g.box, truth) for g in found) > 0.5, (kind, truth, garments)
        assert all(0.4 <= g.confidence <= 1 for g in found)


def test_each_garment_finds_items_of_its_type(store, tmp_path):
    compose_look([SHOES, HANDBAG, TROUSERS], tmp_path / "look.png")
    looked = store.look(tmp_path / "look.png", k=5)
    types = {g.garment.type: [coarse_type(store.item(m.id).category) for m in g.matches] for g in looked}
    for kind in ("shoes", "bags", "trousers"):
        assert kind in types and types[kind].count(kind) >= 4, types


def test_a_single_packshot_is_one_garment(store):
    garments = store.garment_finder.find(Image.open(store.items["image"].iat[3]))
    assert len(garments) == 1 and garments[0].type == coarse_type(store.items["category"].iat[3])


@pytest.mark.parametrize("photo", [Image.new("RGB", (400, 600), "white"), Image.new("RGB", (400, 600), (200, 30, 30)),
                                   Image.new("RGB", (1, 2000), "black"), MANGO / "images" / "2023_57040160_02.jpg"],
                         ids=["white", "one colour", "one pixel wide", "a candle"])
def test_a_photo_without_a_garment_has_none(store, photo):
    assert store.look(photo, k=5) == []


def test_an_encoder_without_type_groups_cannot_find_garments(encoder):
    with pytest.raises(NoGarmentTypesError, match="cannot tell the garments"):
        GarmentFinder(encoder)


def test_cli_prints_the_look_as_json_and_refuses_look_without_a_photo(look_store, store, tmp_path):
    compose_look([SHIRT, SHOES], tmp_path / "look.png")
    result = dressup("similar", "--store", str(look_store), "--image", str(tmp_path / "look.png"), "--look", "-k", "3",
                     "--json")
    look = json.loads(result.stdout)
    assert {g["type"] for g in look["garments"]} >= {"tops", "shoes"}
    assert all(len(g["box"]) == 4 and len(g["items"]) == 3 for g in look["garments"])
    fails_cleanly(dressup("similar", "--store", str(look_store), "--item", str(store.items["id"].iat[0]), "--look",
                          check=False), "--look goes with --image")



@pytest.fixture(scope="module")
def look_client(look_store):
    with running_server(look_store) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def upload(path) -> dict:
    return {"image": ("look.png", path.read_bytes(), "image/png")}


def test_api_returns_each_garment_with_its_type_box_and_items(look_client, tmp_path):
    boxes = compose_look([SHIRT, TROUSERS, HANDBAG], tmp_path / "look.png")
    response = look_client.post("/similar", params={"look": "true"}, files=upload(tmp_path / "look.png"), data={"k": "4"})
    assert response.status_code == 200, response.text
    garments = response.json()["garments"]
    assert {g["type"] for g in garments} >= {"tops", "trousers", "bags"}
    for garment in garments:
        assert len(garment["items"]) == 4 and all(i["image_url"].startswith("/items/") for i in garment["items"])
        assert sorted(garment) == ["box", "confidence", "items", "type"]
    trousers = next(g for g in garments if g["type"] == "trousers")
    assert overlap(trousers["box"], boxes[1]) > 0.5
    filtered = look_client.post("/similar", params={"look": "true"}, files=upload(tmp_path / "look.png"),
                                data={"k": "3", "category": "Trousers"}).json()["garments"]
    assert filtered and all(i["category"] == "Trousers" for g in filtered for i in g["items"])
    plain = look_client.post("/similar", files=upload(tmp_path / "look.png"), data={"k": "3"}).json()
    assert len(plain["items"]) == 3  # without look: one list, as before


@pytest.mark.parametrize("size", [(400, 600), (1, 20000)], ids=["one colour", "1x20000"])
def test_api_answers_photos_without_garments_or_too_long_without_a_5xx(look_client, tmp_path, size):
    Image.new("RGB", size, (30, 60, 200)).save(tmp_path / "plain.png")
    response = look_client.post("/similar", params={"look": "true"}, files=upload(tmp_path / "plain.png"))
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json() == {"garments": []}
    else:
        assert "detail" in response.json()
