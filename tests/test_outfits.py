"""Outfits on a small real Mango subset: training, fitb/score formats, slot logic, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")


from conftest import dressup, fails_cleanly
from dressup import Store
from dressup.evaluation.outfits import Question, fitb_accuracy, outfit_auc, split_outfits
from dressup.outfits import OutfitError, OutfitModel, OutfitScorer, read_outfits
from dressup.outfits.data import OutfitDataError


def test_read_outfits_counts_unknown_items(mango_store, tmp_path):
    store = Store.open(mango_store / "store")
    table = pd.read_csv(mango_store / "outfits.csv", dtype=str)
    extra = pd.DataFrame({"cod_outfit": ["x", "x"], "cod_modelo_color": ["no-such-item", table["cod_modelo_color"].iat[0]]})
    pd.concat([table, extra]).to_csv(tmp_path / "o.csv", index=False)
    outfits = read_outfits(tmp_path / "o.csv", store)
    assert outfits.unknown_items == 1 and outfits.dropped == 1 and len(outfits) == 250
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(OutfitDataError, match="expected columns"):
        read_outfits(tmp_path / "bad.csv", store)


def test_complete_a_top_gives_bottom_or_dress_and_shoes_without_duplicate_types(mango_store):
    model = OutfitModel.load(mango_store / "store")
    items = model.store.items
    top = items.loc[items["attr:des_product_family"] == "Tops", "id"].iat[0]
    outfits = model.complete([top], n=3)
    assert len(outfits) == 3
    for outfit in outfits:
        families = [model.slots[model.store.row(i.id)] for i in outfit.items]
        types = [model.types[model.store.row(i.id)] for i in outfit.items]
        assert outfit.items[0].id == top and outfit.items[0].given
        assert {"Trousers", "Jeans", "Skirts", "Shorts", "Dresses"} & set(families)
        assert "Footwear" in families
        assert len(types) == len(set(types))
    added = [{i.id for i in o.items[1:]} for o in outfits]
    assert added[0] != added[1] != added[2]


def test_complete_respects_budget_and_exclusions(mango_store):
    model = OutfitModel.load(mango_store / "store")
    store = model.store
    top = store.items.loc[store.items["attr:des_product_family"] == "Tops", "id"].iat[0]
    with pytest.raises(OutfitError, match="no prices"):
        model.complete([top], budget=100)
    from dressup.store.filters import Filters

    outfits = model.complete([top], n=2, filters=Filters(exclude={"attr:des_product_family": ["Bags"]}))
    assert outfits and all(model.slots[store.row(i.id)] != "Bags" for o in outfits for i in o.items)
    with pytest.raises(Exception, match="unknown item"):
        model.complete(["no-such-item"])


def test_fitb_and_score_commands(mango_store, tmp_path):
    store = Store.open(mango_store / "store")
    outfits = read_outfits(mango_store / "outfits.csv", store)
    ids = store.items["id"].to_numpy()
    first, second = ids[outfits.rows[0]], ids[outfits.rows[1]]
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "q1", "outfit": list(first[1:]), "candidates": [first[0], second[0]]}) + "\n"
        + json.dumps({"id": "q2", "outfit": list(first[1:]), "candidates": ["no-such-item", second[0]]}) + "\n"
    )
    done = dressup("outfits", "fitb", "--store", mango_store / "store", questions, "--output", tmp_path / "a.jsonl", check=False)
    assert done.returncode == 1 and "q2" in done.stderr
    answers = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert answers[0]["id"] == "q1" and answers[0]["answer"] in (first[0], second[0]) and len(answers[0]["scores"]) == 2
    assert answers[1]["answer"] is None and "no-such-item" in answers[1]["error"]
    lines = tmp_path / "o.jsonl"
    lines.write_text(json.dumps({"id": 7, "items": list(first)}) + "\n")
    dressup("outfits", "score", "--store", mango_store / "store", lines, "--output", tmp_path / "s.jsonl")
    scored = json.loads((tmp_path / "s.jsonl").read_text())
    assert scored["id"] == 7 and -1 <= scored["score"] <= 1


def test_model_prefers_stylists_outfits_to_random_ones(mango_store):
    model = OutfitModel.load(mango_store / "store")
    outfits = read_outfits(mango_store / "outfits.csv", model.store)
    real = [model.score(model.store.items["id"].to_numpy()[rows]) for rows in outfits.rows[:100]]
    rng = np.random.default_rng(0)
    fake = [model.score(model.store.items["id"].to_numpy()[rng.choice(len(model.store), 5, replace=False)]) for _ in range(100)]
    assert np.mean(real) > np.mean(fake)


def test_split_makes_cold_items_absent_from_training(mango_store):
    store = Store.open(mango_store / "store")
    outfits = read_outfits(mango_store / "outfits.csv", store)
    split = split_outfits(outfits, len(store), cold_share=0.1)
    assert split.train.usage(len(store))[split.cold_items].sum() == 0
    assert len(split.cold) > 0 and len(split.warm) > 0


class HandMadeScorer(OutfitScorer):
    """Candidates scored by a function of their rows alone."""

    name = "hand-made"

    def __init__(self, score):
        self.score = score

    def candidate_scores(self, outfit, candidates):
        return self.score(candidates)

    def outfit_score(self, rows):
        return float(self.score(rows).sum())


def test_metrics_on_hand_computed_cases():
    questions = [Question(np.array([0]), np.array([1, 2]), "warm"), Question(np.array([0]), np.array([3, 4]), "warm")]
    assert fitb_accuracy(questions, HandMadeScorer(lambda cands: -cands.astype(float))) == 1.0
    assert fitb_accuracy(questions, HandMadeScorer(lambda cands: np.zeros(len(cands)))) == 0.5  # ties: a fair share
    real, fake = [np.array([0, 1]), np.array([2, 3])], [np.array([4, 5])]
    assert outfit_auc(real, fake, lambda rows: -rows.sum()) == 1.0


def test_whole_outfit_stays_within_budget(mango_store):
    model = OutfitModel.load(mango_store / "store")
    store = model.store
    model.prices = 10.0 + (np.arange(len(store)) * 7919 % 90)  # made-up prices from 10 to 99
    top = store.items.loc[store.items["attr:des_product_family"] == "Tops", "id"].iat[0]
    unlimited = model.complete([top], n=3)
    cheapest = min(o.total_price for o in unlimited)
    budget = cheapest - 1
    limited = model.complete([top], n=3, budget=budget)
    assert limited and all(o.total_price <= budget for o in limited)
    with pytest.raises(OutfitError, match="over the budget"):
        model.complete([top], budget=1)


def test_complete_around_a_photo_and_refuse_a_broken_one(mango_store, tmp_path):
    store = Store.open(mango_store / "store")
    skirt = store.items.loc[store.items["attr:des_product_family"] == "Skirts"].iloc[0]
    done = dressup("outfits", "complete", "--store", mango_store / "store", "--image", skirt["image"], "-n", "2", "--json")
    outfits = json.loads(done.stdout)["outfits"]
    assert len(outfits) == 2
    assert outfits[0]["items"][0]["id"] is None and outfits[0]["items"][0]["slot"] == "Skirts"  # the photo, slot guessed
    assert all(item["id"] != skirt["id"] for o in outfits for item in o["items"][1:])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\x89PNG broken")
    fails_cleanly(dressup("outfits", "complete", "--store", mango_store / "store", "--image", broken, check=False), "error:")
    top, shoes = (store.items.loc[store.items["attr:des_product_family"] == f, "id"].iat[0] for f in ("Tops", "Footwear"))
    both = dressup("outfits", "complete", "--store", mango_store / "store", "--items", top, shoes, "-n", "1", "--json")
    given = [item["id"] for item in json.loads(both.stdout)["outfits"][0]["items"] if item["given"]]
    assert given == [top, shoes]  # --items ID ID: several ids after one option
    fails_cleanly(dressup("outfits", "complete", "--store", mango_store / "store", "--items", "no-such-item", check=False),
                  "no-such-item")


# -- the stylists' own outfits first --------------------------------------------------------------

def stylist_look(mango_store) -> tuple[str, list[str]]:
    """An outfit of the subset with four or more products, and its products."""
    outfits = pd.read_csv(mango_store / "outfits.csv", dtype=str)
    sizes = outfits.groupby("cod_outfit", sort=False)["cod_modelo_color"].agg(list)
    look = next(name for name, ids in sizes.items() if len(set(ids)) >= 4)
    return look, list(dict.fromkeys(sizes[look]))


def test_a_stylists_outfit_around_the_cart_item_comes_first_and_is_labelled(mango_store):
    model = OutfitModel.load(mango_store / "store")
    look, ids = stylist_look(mango_store)
    outfits = model.complete([ids[0]], n=3)
    first = outfits[0]
    assert first.source == "stylist" and first.look is not None
    holding = pd.read_csv(mango_store / "outfits.csv", dtype=str).groupby("cod_outfit")["cod_modelo_color"].agg(set)
    assert {i.id for i in first.items} <= holding[first.look] and ids[0] in holding[first.look]
    assert first.items[0].id == ids[0] and first.items[0].given and not any(i.replaces for i in first.items)
    assert [o.source for o in outfits].count("generated") >= 1 and outfits[-1].source == "generated"
    done = dressup("outfits", "complete", "--store", mango_store / "store", "--items", ids[0], "-n", "2", "--json")
    assert [o["source"] for o in json.loads(done.stdout)["outfits"]][0] == "stylist"


def test_a_stylists_outfit_with_a_part_gone_gets_a_stand_in_of_its_slot(mango_store, tmp_path):
    import shutil

    from dressup.store.editing import remove_item

    shutil.copytree(mango_store / "store", tmp_path / "store")
    look, ids = stylist_look(mango_store)
    before = OutfitModel.load(tmp_path / "store").complete([ids[0]], n=1)[0]
    gone = next(i for i in before.items if not i.given)
    remove_item(tmp_path / "store", gone.id)
    after = OutfitModel.load(tmp_path / "store").complete([ids[0]], n=1)[0]
    assert after.source == "stylist" and after.look == before.look
    stand_in = next(i for i in after.items if i.replaces == gone.id)
    assert stand_in.id != gone.id and stand_in.slot == gone.slot
    assert {i.id for i in after.items if not i.replaces} == {i.id for i in before.items} - {gone.id}


def test_a_filter_that_matches_nothing_answers_at_once(mango_store):
    import time

    from dressup.store.filters import Filters

    model = OutfitModel.load(mango_store / "store")
    top = model.store.items.loc[model.store.items["attr:des_product_family"] == "Tops", "id"].iat[0]
    started = time.perf_counter()
    with pytest.raises(OutfitError, match="no product matches these filters"):
        model.complete([top], n=3, filters=Filters(where={"colour": ["No such colour"]}))
    only_bags = Filters(where={"attr:des_product_family": ["Bags"]})
    outfits = model.complete([top], n=3, filters=only_bags)  # no template is only a top and a bag: skipped, not tried
    assert time.perf_counter() - started < 1.0
    assert all(model.slots[model.store.row(i.id)] == "Bags" for o in outfits for i in o.items if not i.given)
