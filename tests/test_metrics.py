import numpy as np
import pytest

from dressup.metrics import label_precision_at_k, percentile_ms, precision_at_k, recall_at_k


def test_precision_at_k_by_hand():
    hits = np.array([[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0]], bool)
    # per query at k=2: 2/2, 1/2, 0/2 -> mean 0.5; at k=4: 2/4, 2/4, 0 -> 1/3
    assert precision_at_k(hits, 2) == pytest.approx(0.5)
    assert precision_at_k(hits, 4) == pytest.approx(1 / 3)


def test_precision_counts_missing_results_as_misses():
    assert precision_at_k(np.array([[True]]), 4) == pytest.approx(0.25)
    assert precision_at_k(np.zeros((0, 3), bool), 3) == 0.0


def test_label_precision_at_k_by_hand():
    queries = ["Shirts", "Jeans"]
    results = [["Shirts", "Tshirts", "Shirts"], ["Jeans", None, "Shirts"]]
    # Shirts: 2 of 3; Jeans: 1 of 3 (None is a missing result)
    assert label_precision_at_k(queries, results, 3) == pytest.approx(0.5)
    assert label_precision_at_k(queries, results, 1) == pytest.approx(1.0)


def test_label_precision_never_matches_missing_query_labels():
    assert label_precision_at_k([None], [[None, None]], 2) == 0.0


def test_recall_at_k_by_hand():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[3, 2, 1], [7, 8, 4]])
    assert recall_at_k(found, truth, 3) == pytest.approx((3 / 3 + 1 / 3) / 2)
    assert recall_at_k(found, truth, 1) == pytest.approx(0.0)


def test_percentile_ms():
    assert percentile_ms([0.001, 0.002, 0.003], 50) == pytest.approx(2.0)


def test_missing_labels_never_match_in_any_form():
    from dressup.metrics import label_matches

    hits = label_matches(["", None, float("nan"), "Red"], [["", "x"], [None, "y"], [float("nan"), "z"], ["Red", None]])
    assert hits.tolist() == [[False, False], [False, False], [False, False], [True, False]]


def test_average_precision_by_hand():
    from dressup.metrics import average_precision_at_k, mean_average_precision_at_k

    # hits at ranks 1 and 3 of 3 relevant items: (1/1 + 2/3) / 3
    assert average_precision_at_k({"a", "b", "c"}, ["a", "x", "b", "y"], k=12) == pytest.approx((1 + 2 / 3) / 3)
    # a hit beyond k does not count; a repeated hit counts once; the denominator is capped at k
    assert average_precision_at_k({"a"}, ["x", "y", "a"], k=2) == 0.0
    assert average_precision_at_k({"a", "b"}, ["a", "a", "b"], k=12) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision_at_k(set("abcdefghijklmn"), list("abcdefghijkl"), k=12) == 1.0
    assert average_precision_at_k(set(), ["a"], k=12) == 0.0
    assert mean_average_precision_at_k([{"a"}, {"b"}], [["a"], ["x", "b"]], k=12) == pytest.approx(0.75)


def test_bootstrap_ratio_interval_by_hand():
    from dressup.metrics import bootstrap_ratio_interval

    # users resampled in pairs: equal scores give exactly 2x whatever the draw
    assert bootstrap_ratio_interval([0.5, 0.1, 0.3], [0.25, 0.05, 0.15]) == pytest.approx((2.0, 2.0))
    # one user carries the whole gain: every draw lies between 0x (only the other user drawn) and 2x
    low, high = bootstrap_ratio_interval([1.0, 0.0], [0.5, 0.5], draws=4000)
    assert low == pytest.approx(0.0) and high == pytest.approx(2.0)
    # many users with a steady 1.5x gain give a narrow interval around 1.5x; an eighth as many a wider one
    scores = np.random.default_rng(1).random(400)
    wide = bootstrap_ratio_interval(1.5 * scores[:50] * (1 + 0.5 * np.sin(np.arange(50))), scores[:50])
    narrow = bootstrap_ratio_interval(1.5 * scores * (1 + 0.5 * np.sin(np.arange(400))), scores)
    assert narrow[0] < 1.5 < narrow[1] and narrow[1] - narrow[0] < wide[1] - wide[0]
    assert bootstrap_ratio_interval([0.1, 0.2], [0.0, 0.0]) is None
    # two baselines, each good for half the users: the best of them is re-picked in every draw, so the
    # ratio to the best baseline never exceeds 2x, while holding one baseline fixed would reach far beyond
    ours, first, second = np.ones(20), np.repeat([1.0, 0.0], 10), np.repeat([0.0, 1.0], 10)
    assert bootstrap_ratio_interval(ours, [first, second])[1] <= 2.0 < bootstrap_ratio_interval(ours, first)[1]
    with pytest.raises(ValueError, match="one score per user"):
        bootstrap_ratio_interval([0.1], [0.1, 0.2])


def test_hit_rate_coverage_and_diversity_by_hand():
    from dressup.metrics import catalog_coverage, hit_rate_at_k, intra_list_diversity

    assert hit_rate_at_k([{"a"}, {"b"}, {"c"}], [["a"], ["x"], ["y", "c"]], k=2) == pytest.approx(2 / 3)
    assert catalog_coverage([["a", "b"], ["b", "c"]], catalog_size=4) == 0.75
    same = np.array([[1.0, 0.0], [2.0, 0.0]])
    opposite = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert intra_list_diversity([same]) == pytest.approx(0.0)
    assert intra_list_diversity([same, opposite]) == pytest.approx(1.0)  # (0 + 2) / 2
