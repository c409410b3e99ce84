"""A tiny real training run end to end: frozen-layer cache, a few batches, export, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from conftest import FPI, fpi_table

from dressup import create_encoder
from dressup.tagging import Tagger
from dressup.training import TrainConfig, train_encoder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, styles):
    folder = tmp_path_factory.mktemp("train")
    table = fpi_table(styles, 160)
    table.to_csv(folder / "catalog.csv", index=False)
    split = np.where(np.arange(len(table)) % 5 == 0, "val", "train")
    split[:8] = "test"
    pd.DataFrame({"id": table["id"], "split": split}).to_csv(folder / "splits.csv", index=False)
    config = TrainConfig(
        catalog=str(folder / "catalog.csv"), labels=("articleType", "baseColour", "gender"), split_file=str(folder / "splits.csv"),
        epochs=1, max_batches=2, batch_size=16, views=2, first_trained_block=14, dimension=64, contrastive_labels=2,
        tag_labels=("baseColour", "gender"),
    )
    result = train_encoder(config, folder / "model")
    return config, result, table, split


def test_training_writes_a_loadable_model(tiny_run):
    _, result, table, _ = tiny_run
    encoder = create_encoder(result.model_dir)
    vectors = encoder.encode([FPI / "images" / f"{i}.jpg" for i in table["id"][:4]])
    assert vectors.shape == (4, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    int8 = create_encoder(result.model_dir, precision="int8")
    assert int8.name.endswith("-int8") and int8.fingerprint != encoder.fingerprint
    assert (int8.encode([FPI / "images" / f"{table['id'].iat[0]}.jpg"]) @ vectors[0]).item() > 0.9
    assert "Base weights" in (result.model_dir / "README.md").read_text()


def test_label_classes_come_from_training_items_only(tiny_run):
    _, result, table, split = tiny_run
    tagger = Tagger.load(result.model_dir)
    assert tagger.labels == ["baseColour", "gender"]  # --tag-labels: articleType is trained on but not shown
    assert set(create_encoder(result.model_dir).spec.extra["labels"]) == {"articleType", "baseColour", "gender"}
    seen = set(table.loc[split != "test", "baseColour"])
    assert set(tagger.classes["baseColour"]) == seen
    tags = tagger.tag([FPI / "images" / f"{table['id'].iat[0]}.jpg"])[0]
    assert tags["gender"].value in tagger.classes["gender"] and 0 < tags["gender"].confidence <= 1


def test_the_colour_stage_is_kept_only_if_it_beats_the_head_on_val(tiny_run):
    _, result, _, _ = tiny_run
    report = result.colour_stage
    assert report.label == "baseColour" and report.train_items > 100 and report.val_items > 20
    assert report.stage_val_accuracy == max(report.tried.values()) and report.kept == (report.stage_val_accuracy > report.head_val_accuracy)
    spec = create_encoder(result.model_dir).spec.extra
    assert (result.model_dir / "colour-stage.npz").is_file() == report.kept == ("colour_stage" in spec)
    assert (Tagger.load(result.model_dir).colour_stage is not None) == report.kept


def test_a_rerun_resumes_from_the_checkpoint(tiny_run):
    config, first, _, _ = tiny_run
    again = train_encoder(config, first.model_dir)  # every epoch done: nothing is trained again
    assert again.resumed_from == 1 and again.epochs_run == 1
    assert again.history == first.history


def test_any_label_name_can_be_trained():
    """Label names are data, not attribute names: "type" or "a.b" must not clash with torch's Module."""
    import torch

    from dressup.training.network import FashionEncoderNet

    net = FashionEncoderNet(17, 8, {"type": 3, "a.b": 2})
    embedding, logits = net(torch.randn(2, 160, 6, 6))
    assert embedding.shape == (2, 8) and logits["type"].shape == (2, 3) and logits["a.b"].shape == (2, 2)
    assert set(net.head_matrices()) == {"type", "a.b"}
