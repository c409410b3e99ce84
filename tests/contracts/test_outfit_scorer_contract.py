"""Every outfit scorer, DressUp's learned one and each baseline of `dressup.outfits.BASELINES`, keeps the
`OutfitScorer` contract on a real Mango subset."""

import numpy as np
import pytest

from dressup import Store
from dressup.outfits import BASELINES, CompatibilityModel, CompatibilityScorer, read_outfits

pytest.importorskip("torch")


@pytest.fixture(scope="module", params=[*BASELINES, CompatibilityScorer.name])
def scored(request, mango_store):
    store = Store.open(mango_store / "store")
    outfits = read_outfits(mango_store / "outfits.csv", store)
    if request.param == CompatibilityScorer.name:
        return CompatibilityScorer(CompatibilityModel.load(store.path), store), outfits, store
    return BASELINES[request.param].fit(store, outfits, seed=0), outfits, store


def test_each_candidate_gets_one_finite_score(scored):
    scorer, outfits, store = scored
    for rows in outfits.rows[:20]:
        candidates = np.array([rows[0], *np.random.default_rng(0).choice(len(store), 5, replace=False)])
        scores = np.asarray(scorer.candidate_scores(rows[1:], candidates), float)
        assert scores.shape == (6,) and np.isfinite(scores).all()


def test_an_outfits_score_is_finite_and_the_same_in_any_order(scored):
    scorer, outfits, _ = scored
    for rows in outfits.rows[:20]:
        score = scorer.outfit_score(rows)
        assert np.isfinite(score) and score == pytest.approx(scorer.outfit_score(rows[::-1]), rel=1e-5)


def test_the_same_question_gets_the_same_scores(scored):
    scorer, outfits, _ = scored
    rows = outfits.rows[0]
    assert np.array_equal(scorer.candidate_scores(rows[1:], rows[:1]), scorer.candidate_scores(rows[1:], rows[:1]))
