"""Every index engine (`dressup.store.vectors.ENGINES`), exact and graph, keeps the `VectorIndex` contract."""

import numpy as np
import pytest

from dressup.embeddings import normalize_rows
from dressup.store.vectors import ENGINES, IndexConfig, create_index, exact_search, load_index


def clustered(count: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres, as item embeddings are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dimension))
    return normalize_rows(centres[rng.integers(40, size=count)] + 0.4 * rng.normal(size=(count, dimension))).astype(np.float32)


@pytest.fixture(params=[(engine, kind, storage) for engine in ENGINES for kind, storage in
                        (("flat", "float32"), ("hnsw", "float32"), ("hnsw", "sq8"))], ids=lambda p: "-".join(p))
def config(request):
    engine, kind, storage = request.param
    return IndexConfig(kind=kind, engine=engine, storage=storage)


@pytest.fixture
def vectors():
    return clustered(3000)


def test_each_vector_finds_itself_first_and_results_are_best_first(config, vectors):
    index = create_index(vectors, config)
    assert len(index) == 3000 and index.dimension == 32 and index.kind == config.kind
    rows, scores = index.search(vectors[:50], 10)
    assert rows.shape == scores.shape == (50, 10)
    assert (rows[:, 0] == np.arange(50)).all() and (np.diff(scores, axis=1) <= 1e-6).all()
    assert np.allclose(index.vectors_of(np.arange(50)), vectors[:50], atol=1e-2)


def test_it_finds_what_an_exact_scan_finds(config, vectors):
    index = create_index(vectors, config)
    found, _ = index.search(vectors[100:300], 10)
    truth, _ = exact_search(vectors, vectors[100:300], 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95


@pytest.mark.parametrize("allowed_share", [0.5, 0.05, 0.002])
def test_filters_are_exact_and_k_results_come_back_whenever_k_qualify(config, vectors, allowed_share):
    index = create_index(vectors, config)
    allowed = np.random.default_rng(1).random(len(vectors)) < allowed_share
    rows, scores = index.search(vectors[:20], 8, allowed)
    qualifying = min(8, int(allowed.sum()))
    assert (rows[:, :qualifying] >= 0).all() and allowed[rows[:, :qualifying]].all()
    assert (rows[:, qualifying:] == -1).all() and np.isneginf(scores[:, qualifying:]).all()


def test_more_than_it_holds_pads_with_no_row(config):
    index = create_index(clustered(5), config)
    rows, scores = index.search(clustered(1, seed=3), 8)
    assert (rows[0, :5] >= 0).all() and (rows[0, 5:] == -1).all() and np.isneginf(scores[0, 5:]).all()
    nothing = np.zeros(5, bool)
    assert (index.search(clustered(1, seed=3), 3, nothing)[0] == -1).all()


def test_added_vectors_are_found_and_removed_ones_never_again(config, vectors):
    index = create_index(vectors[:2000], config)
    added = index.add(vectors[2000:2010])
    assert len(added) == 2010 and len(index) == 2000  # a new index: readers of the old one are not disturbed
    assert (added.search(vectors[2000:2010], 1)[0][:, 0] == np.arange(2000, 2010)).all()
    assert np.allclose(added.vectors_of([5, 2003]), vectors[[5, 2003]], atol=1e-2)
    removed = added.remove(np.array([2003, 5]))
    found, _ = removed.search(vectors[[2003, 5]], 10)
    assert not np.isin(found, [2003, 5]).any() and (found >= 0).all()
    assert removed.removed.sum() == 2 and added.removed is None
    allowed = np.zeros(len(removed), bool)
    allowed[[5, 6]] = True
    assert removed.search(vectors[[5]], 2, allowed)[0].tolist() == [[6, -1]]
    assert 5 in added.search(vectors[[5]], 1)[0]


def test_a_saved_index_keeps_its_added_and_removed_rows(config, vectors, tmp_path):
    index = create_index(vectors[:2000], config).add(vectors[2000:2010]).remove(np.array([7, 2001]))
    index.save(tmp_path / "index")
    again = load_index(tmp_path / "index", config)
    assert len(again) == 2010 and again.removed.sum() == 2
    assert np.array_equal(index.search(vectors[:30], 10)[0], again.search(vectors[:30], 10)[0])


def test_a_saved_index_loads_with_the_same_answers(config, vectors, tmp_path):
    index = create_index(vectors, config)
    index.save(tmp_path / "index")
    again = load_index(tmp_path / "index", config)
    assert np.array_equal(index.search(vectors[:30], 10)[0], again.search(vectors[:30], 10)[0])


def test_an_unknown_engine_is_named_in_the_error(vectors):
    with pytest.raises(ValueError, match="unknown index engine 'nope'"):
        create_index(vectors, IndexConfig(engine="nope"))
