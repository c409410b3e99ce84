"""Ranking metrics as plain functions over arrays."""

from __future__ import annotations

import numpy as np

from .embeddings import normalize_rows


def precision_at_k(hits: np.ndarray, k: int) -> float:
    """Mean share of relevant results among the first k, per query.

    ``hits`` is a (queries, results) boolean array; a query with fewer than k results counts the
    missing ones as misses.

    >>> precision_at_k(np.array([[1, 0, 1], [0, 0, 0]], bool), k=2)
    0.25
    """
    hits = np.atleast_2d(np.asarray(hits, dtype=bool))
    if hits.shape[0] == 0:
        return 0.0
    return float(hits[:, :k].sum(axis=1).mean() / k)


def label_matches(query_labels, result_labels) -> np.ndarray:
    """(queries, results) booleans: the result's label equals the query's.

    Missing labels (None, NaN, empty text), and missing results padded with None, never match.
    """
    query_labels = _missing_as_none(np.asarray(query_labels, dtype=object))
    result_labels = _missing_as_none(np.asarray(result_labels, dtype=object))
    if result_labels.ndim != 2:
        raise ValueError("result_labels must be (queries, results)")
    present = np.not_equal(query_labels, None)[:, None]
    return (result_labels == query_labels[:, None]) & present


def label_precision_at_k(query_labels, result_labels, k: int) -> float:
    """Precision@k where a result is relevant when its label equals the query's (see `label_matches`)."""
    return precision_at_k(label_matches(query_labels, result_labels), k)


def _missing_as_none(labels: np.ndarray) -> np.ndarray:
    is_missing = np.frompyfunc(lambda v: v is None or v == "" or (isinstance(v, float) and np.isnan(v)), 1, 1)
    return np.where(is_missing(labels).astype(bool), None, labels)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of the true k nearest neighbours that an approximate search found.

    >>> recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]), k=3)
    0.6666666666666666
    """
    found, truth = np.atleast_2d(found)[:, :k], np.atleast_2d(truth)[:, :k]
    if len(truth) == 0:
        return 0.0
    overlap = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.mean(overlap) / k)


def percentile_ms(seconds, q: float) -> float:
    """A latency percentile in milliseconds."""
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def accuracy(truth, predicted) -> float:
    """Share of predictions equal to the truth.

    >>> accuracy(["a", "b", "b"], ["a", "b", "a"])
    0.6666666666666666
    """
    truth, predicted = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    return float((truth == predicted).mean()) if len(truth) else 0.0


def calibration_bins(confidence, correct, bins: int = 15) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) of the predictions in each of ``bins`` equal-width confidence bins."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return [(float(confidence[which == b].mean()), float(correct[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]


def expected_calibration_error(confidence, correct, bins: int = 15) -> float:
    """How far confidences are from the accuracy they come with: the count-weighted mean of |accuracy - confidence|
    over equal-width confidence bins (0 is perfectly calibrated).

    >>> round(expected_calibration_error([0.9, 0.9, 0.6, 0.6], [1, 1, 1, 0]), 4)
    0.1
    """
    found = calibration_bins(confidence, correct, bins)
    total = sum(count for _, _, count in found)
    return float(sum(count * abs(right - sure) for sure, right, count in found) / total) if total else 0.0


def macro_f1(truth, predicted) -> float:
    """F1 averaged over the true classes (each class counts once, however rare).

    >>> round(macro_f1(["a", "a", "b"], ["a", "b", "b"]), 4)
    0.6667
    """
    from sklearn.metrics import f1_score

    truth = np.asarray(truth, dtype=object).astype(str)
    predicted = np.asarray(predicted, dtype=object).astype(str)
    if len(truth) == 0:
        return 0.0
    return float(f1_score(truth, predicted, labels=np.unique(truth), average="macro", zero_division=0))


def average_precision_at_k(actual, predicted, k: int = 12) -> float:
    """AP@k as in the H&M competition: precision at each hit, summed, over min(|actual|, k).

    >>> average_precision_at_k({"a", "b"}, ["a", "x", "b"], k=12)  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    actual = set(actual)
    if not actual:
        return 0.0
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(list(predicted)[:k], start=1):
        if item in actual and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(len(actual), k)


def mean_average_precision_at_k(actual: list, predicted: list, k: int = 12) -> float:
    """MAP@k over users: ``actual[i]`` the items user i bought, ``predicted[i]`` their list, best first.

    >>> mean_average_precision_at_k([{"a"}, {"b"}], [["a"], ["x", "b"]], k=12)  # (1 + 1/2) / 2
    0.75
    """
    if not actual:
        return 0.0
    return float(np.mean(average_precisions_at_k(actual, predicted, k)))


def average_precisions_at_k(actual: list, predicted: list, k: int = 12) -> np.ndarray:
    """AP@k of each user; MAP@k is their mean."""
    return np.array([average_precision_at_k(a, p, k) for a, p in zip(actual, predicted)], dtype=float)


def bootstrap_ratio_interval(numerator, denominators, level: float = 0.95, draws: int = 2000,
                             seed: int = 0) -> tuple[float, float] | None:
    """Percentile interval of mean(numerator) / mean(denominator) with users resampled (paired bootstrap).

    ``numerator[i]`` is user i's score under one method. ``denominators`` is the other method's scores, or
    one row per rival method: each draw then divides by the best rival of that draw, so the interval of a
    ratio to "the best baseline" does not favour the numerator by fixing the baseline in advance. Draws in
    which every rival scores zero are left out; None when all of them score zero for every user.

    >>> bootstrap_ratio_interval([0.5, 0.5], [0.25, 0.25])
    (2.0, 2.0)
    """
    numerator = np.asarray(numerator, float)
    rivals = np.atleast_2d(np.asarray(denominators, float))
    if rivals.shape[1] != len(numerator):
        raise ValueError("numerator and denominators need one score per user each")
    if not rivals.any():
        return None
    rng = np.random.default_rng(seed)
    ratios = []
    per_chunk = max(1, 2_000_000 // max(len(numerator), 1))  # bounded memory for any number of users
    for start in range(0, draws, per_chunk):
        counts = rng.multinomial(len(numerator), np.full(len(numerator), 1 / len(numerator)), size=min(per_chunk, draws - start))
        below = (counts @ rivals.T).max(axis=1)
        ratios.append((counts @ numerator)[below > 0] / below[below > 0])
    tail = 50 * (1 - level)
    low, high = np.percentile(np.concatenate(ratios), [tail, 100 - tail])
    return float(low), float(high)


def hit_rate_at_k(actual: list, predicted: list, k: int = 12) -> float:
    """Share of users with at least one of their items in their first k.

    >>> hit_rate_at_k([{"a"}, {"b"}, {"c"}], [["a"], ["x"], ["y", "c"]], k=1)
    0.3333333333333333
    """
    if not actual:
        return 0.0
    return float(np.mean([bool(set(a) & set(list(p)[:k])) for a, p in zip(actual, predicted)]))


def catalog_coverage(predicted: list, catalog_size: int) -> float:
    """Share of the catalog that appears in at least one list.

    >>> catalog_coverage([["a", "b"], ["b", "c"]], catalog_size=10)
    0.3
    """
    return len({item for items in predicted for item in items}) / catalog_size if catalog_size else 0.0


def intra_list_diversity(vectors_of_lists: list[np.ndarray]) -> float:
    """Mean pairwise cosine distance (1 - cosine) between the items of each list, averaged over lists.

    >>> round(intra_list_diversity([np.array([[1.0, 0.0], [0.0, 1.0]])]), 4)
    1.0
    """
    values = []
    for vectors in vectors_of_lists:
        if len(vectors) < 2:
            continue
        unit = normalize_rows(vectors)
        similarity = unit @ unit.T
        pairs = len(unit) * (len(unit) - 1)
        values.append(1.0 - (similarity.sum() - np.trace(similarity)) / pairs)
    return float(np.mean(values)) if values else 0.0
