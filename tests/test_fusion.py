"""Fused search: extra embeddings (another image encoder, titles) searched with the main one."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FPI
from dressup import Store, index_catalog
from dressup.store.fusion import FusionError, FusionPart, fuse, parse_fusion


def test_parse_fusion_checks_weights():
    assert parse_fusion(["text=0.3"]) == [FusionPart("text", 0.3)]
    for bad in (["text"], ["text=1.5"], ["text=abc"], ["text=0.6", "mobilenetv2-imagenet=0.5"], ["text=0.1", "text=0.2"]):
        with pytest.raises(FusionError):
            parse_fusion(bad)


def test_fused_dot_product_is_the_weighted_sum_of_cosines():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 8)), rng.normal(size=(2, 5))
    fused = fuse([a, b], [0.7, 0.3])
    cos = lambda x: (x[0] @ x[1]) / np.linalg.norm(x[0]) / np.linalg.norm(x[1])
    assert fused[0] @ fused[1] == pytest.approx(0.7 * cos(a) + 0.3 * cos(b), abs=1e-6)


def test_text_fusion_changes_ranking_and_weights_change_without_embedding(tmp_path, small_catalog, encoder):
    plain = tmp_path / "plain"
    index_catalog(small_catalog, plain, encoder=encoder)
    fused_path = tmp_path / "fused"
    report = index_catalog(small_catalog, fused_path, encoder=encoder, fusion=[FusionPart("text", 0.5)])
    store = Store.open(fused_path)
    assert [p["kind"] for p in store.fusion] == ["text"] and store.fusion[0]["dimension"] == 384
    assert report.embedded == 120

    def neighbours(s):
        return {i: [m.id for m in s.similar(item=i, k=5)] for i in s.items["id"][:40]}

    before, after = neighbours(Store.open(plain)), neighbours(store)
    assert sum(before[i] != after[i] for i in before) >= 10  # titles reorder many lists

    # titles put same-type items together: precision of articleType goes up
    def precision(s, lists):
        kind = dict(zip(s.items["id"], s.items["attr:articleType"], strict=True))
        return np.mean([kind[q] == kind[r] for q, found in lists.items() for r in found])

    assert precision(store, after) > precision(store, before)

    reweighted = index_catalog(small_catalog, fused_path, encoder=encoder, fusion=[FusionPart("text", 0.2)])
    assert reweighted.embedded == 0 and reweighted.generation != report.generation
    assert Store.open(fused_path).fusion[0]["weight"] == 0.2
    kept = index_catalog(small_catalog, fused_path, encoder=encoder)  # no setting: keep the store's
    assert kept.generation == reweighted.generation
    index_catalog(small_catalog, fused_path, encoder=encoder, fusion=[])
    assert Store.open(fused_path).fusion == []


def test_photo_query_on_a_fused_store_ranks_by_image(tmp_path, small_catalog, encoder):
    path = tmp_path / "fused"
    index_catalog(small_catalog, path, encoder=encoder,
                  fusion=[FusionPart("text", 0.3), FusionPart("efficientnet-lite0-imagenet", 0.2)])
    store = Store.open(path)
    assert [p["kind"] for p in store.fusion] == ["text", "image"]
    item = store.items["id"].iat[7]
    found = store.similar(image=FPI / "images" / f"{item}.jpg", k=3)
    assert found[0].id == item
