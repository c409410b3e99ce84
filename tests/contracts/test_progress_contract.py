"""Every job that reports progress keeps the `Progress` contract, and the CLI's Rich rendering takes any of it."""

import shutil

import pytest

from conftest import step_recorder
from dressup import index_catalog
from dressup.cli.common import RichProgress
from dressup.users import import_events


def kept_the_contract(recorder) -> set[str]:
    """Within a step, ``done`` never goes back, never passes ``total``, and reaches it at the end; returns the steps."""
    steps: dict[str, list] = {}
    for step, done, total in recorder.seen:
        steps.setdefault(step, []).append((done, total))
    for step, updates in steps.items():
        done = [d for d, _ in updates]
        assert done == sorted(done), step
        assert all(t is None or d <= t for d, t in updates), step
        assert updates[-1][1] is None or updates[-1][0] == updates[-1][1], step
    return set(steps)


def test_indexing_reports_embedding(tmp_path, small_catalog, encoder):
    recorder = step_recorder()
    index_catalog(small_catalog, tmp_path / "store", encoder=encoder, batch_size=32, progress=recorder)
    assert kept_the_contract(recorder) == {"embedding"} and len(recorder.seen) == 4


def test_an_import_reports_reading_and_storing(hm_store_path, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(hm_store_path, store)
    recorder = step_recorder()
    import_events(store, hm_store_path.parent / "catalog" / "transactions.csv", progress=recorder, chunk_rows=100)
    assert kept_the_contract(recorder) == {"reading events", "storing events"}


def test_outfit_training_reports_its_steps_with_the_loss(mango_store, tmp_path):
    pytest.importorskip("torch")
    from dressup.training import OutfitTrainConfig, train_outfit_model

    store = tmp_path / "store"
    shutil.copytree(mango_store / "store", store)
    recorder = step_recorder()
    train_outfit_model(store, mango_store / "outfits.csv", OutfitTrainConfig(epochs=2, batch_size=64), progress=recorder)
    assert kept_the_contract(recorder) == {"outfit model"}


def test_the_command_line_renders_steps_figures_and_notes(capsys):
    with RichProgress(units={"embedding": "img"}) as progress:
        progress.update("embedding", 10, 20)
        progress.update("epoch 1/2", 3, 3, loss=0.25)
        progress.end("epoch 1/2")
        progress.note("epoch=1 loss=0.2500")
        progress.update("embedding", 20, 20)
    output = capsys.readouterr().out
    assert "embedding" in output and "epoch=1 loss=0.2500" in output
