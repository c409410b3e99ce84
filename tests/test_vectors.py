"""The FAISS engine at scale: the flat/HNSW choice by catalog size, recall, filters and exact search by hand."""

import numpy as np
import pytest

from dressup.metrics import recall_at_k
from dressup.store.vectors import FaissIndex, IndexConfig, exact_search


def clustered_vectors(count, dimension=32, clusters=50, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dimension))
    vectors = centres[rng.integers(0, clusters, count)] + 0.3 * rng.normal(size=(count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def vectors():
    return clustered_vectors(30_000)


@pytest.fixture(scope="module")
def hnsw(vectors):
    return FaissIndex(vectors)


def test_exact_search_by_hand():
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32)
    rows, scores = exact_search(vectors, np.array([[1, 0]], np.float32), 2)
    assert rows.tolist() == [[0, 2]]
    assert scores[0].tolist() == pytest.approx([1.0, 0.6])
    rows, scores = exact_search(vectors, np.array([[0, 1]], np.float32), 5, rows=np.array([0, 2]))
    assert rows.tolist() == [[2, 0, -1, -1, -1]]
    assert np.isneginf(scores[0, 2:]).all()


def test_kind_follows_catalog_size(vectors, hnsw):
    assert FaissIndex(vectors[:1000]).kind == "flat"
    assert hnsw.kind == "hnsw"
    with pytest.raises(ValueError):
        IndexConfig(kind="lsh").resolve(10)


def test_hnsw_recall_against_exact(vectors, hnsw):
    queries = vectors[:300]
    found, _ = hnsw.search(queries, 10)
    truth, _ = exact_search(vectors, queries, 10)
    assert recall_at_k(found, truth, 10) >= 0.95


@pytest.mark.parametrize("share", [0.0005, 0.05, 0.5, 0.95])
def test_filtered_search_returns_k_allowed_rows_whenever_there_are_k(vectors, hnsw, share):
    rng = np.random.default_rng(1)
    allowed = rng.random(len(vectors)) < share
    queries = vectors[rng.integers(0, len(vectors), 50)]
    rows, scores = hnsw.search(queries, 10, allowed)
    expected = min(10, int(allowed.sum()))
    assert ((rows >= 0).sum(axis=1) == expected).all()
    assert allowed[rows[rows >= 0]].all()
    assert (np.diff(scores[:, :expected], axis=1) <= 1e-6).all()  # best first
    truth, _ = exact_search(vectors, queries, 10, np.flatnonzero(allowed))
    assert recall_at_k(rows, truth, 10) >= 0.9


def test_filtered_flat_search_is_exact(vectors):
    index = FaissIndex(vectors[:2000])
    allowed = np.zeros(2000, bool)
    allowed[::7] = True
    rows, _ = index.search(vectors[:5], 10, allowed)
    truth, _ = exact_search(vectors[:2000], vectors[:5], 10, np.flatnonzero(allowed))
    assert rows.tolist() == truth.tolist()


def test_nothing_allowed_gives_padding(hnsw, vectors):
    rows, scores = hnsw.search(vectors[:2], 3, np.zeros(len(vectors), bool))
    assert (rows == -1).all() and np.isneginf(scores).all()


def test_save_and_load_round_trip(tmp_path, hnsw, vectors):
    hnsw.save(tmp_path / "index.faiss")
    loaded = FaissIndex.load(tmp_path / "index.faiss")
    assert loaded.kind == "hnsw"
    assert np.array_equal(loaded.vectors, vectors)
    assert loaded.search(vectors[:3], 5)[0].tolist() == hnsw.search(vectors[:3], 5)[0].tolist()


def test_exact_search_in_small_chunks_gives_the_same_answer(vectors):
    queries = vectors[:37]
    whole = exact_search(vectors[:3000], queries, 7)
    chunked = exact_search(vectors[:3000], queries, 7, max_cells=3000 * 5)
    assert np.array_equal(whole[0], chunked[0]) and np.allclose(whole[1], chunked[1])
