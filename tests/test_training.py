"""A tiny real training run end to end: frozen-layer cache, a few batches, export, resume."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from conftest import FPI, dressup, fails_cleanly, fpi_table
from dressup import create_encoder
from dressup.tagging import Tagger
from dressup.training import TrainConfig, fit_colour_stage, train_encoder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, styles):
    folder = tmp_path_factory.mktemp("train")
    table = fpi_table(styles, 160)
    split = np.where(np.arange(len(table)) % 5 == 0, "val", "train")
    split[:8] = "test"
    table.loc[table.index[:2], "baseColour"] = "Test-only colour"
    table.to_csv(folder / "catalog.csv", index=False)
    pd.DataFrame({"id": table["id"], "split": split}).to_csv(folder / "splits.csv", index=False)
    config = TrainConfig(
        catalog=str(folder / "catalog.csv"), labels=("articleType", "baseColour",
                                                     "gender"), split_file=str(folder / "splits.csv"),
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
    assert set(tagger.classes["baseColour"]) == seen and "Test-only colour" not in seen  # no class learnt from test items
    tags = tagger.tag([FPI / "images" / f"{table['id'].iat[0]}.jpg"])[0]
    assert tags["gender"].value in tagger.classes["gender"] and 0 < tags["gender"].confidence <= 1


def test_the_colour_stage_is_fitted_on_train_and_kept_only_if_it_beats_the_head_on_val(tiny_run, tmp_path):
    _, result, table, split = tiny_run
    model = tmp_path / "model"
    shutil.copytree(result.model_dir, model)
    before = {path.name: path.read_bytes() for path in model.iterdir()}
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    catalog = table.assign(image=np.where(np.arange(len(table)) == 9, str(broken), table["image"]))  # row 9 is a train item
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    pd.DataFrame({"id": table["id"], "split": split}).to_csv(tmp_path / "catalog.split.csv", index=False)
    report = fit_colour_stage(model, tmp_path / "catalog.csv", "baseColour", tmp_path / "catalog.split.csv")
    assert (report.train_items, report.val_items) == ((split == "train").sum() - 1, (split == "val").sum())
    assert report.head_val_accuracy > 0 and set(report.tried) == {0.003, 0.01, 0.03}
    assert report.kept == (max(report.tried.values()) > report.head_val_accuracy)  # the best strength tried decides
    stage = Tagger.load(model).colour_stage
    if report.kept:
        assert stage.label == "baseColour"
        assert create_encoder(model).spec.extra["colour_stage"]["val_accuracy"] > report.head_val_accuracy
    else:  # nothing written
        assert stage is None and {path.name: path.read_bytes() for path in model.iterdir()} == before


@pytest.mark.parametrize("classes", [2, 5])
def test_stage_weights_predict_what_scikit_learn_predicts(classes):
    from sklearn.linear_model import LogisticRegression

    from dressup.training.colour_stage import stage_weights

    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(300, 6)), rng.integers(0, classes, 300) * 2  # every other class never seen
    features[:, 0] += target
    model = LogisticRegression(max_iter=2000).fit(features, target)
    coef, intercept = stage_weights(model, 2 * classes)
    logits = features @ coef + intercept
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    assert np.allclose(probabilities[:, model.classes_], model.predict_proba(features), atol=1e-5)
    assert probabilities[:, 1::2].max() < 1e-9


def test_train_colour_command_refuses_a_bad_model_or_label(tiny_run, tmp_path):
    _, result, _, _ = tiny_run
    missing = dressup("train", "colour", "--model", tmp_path, "--catalog", FPI, check=False)
    fails_cleanly(missing, "not a model directory")
    hidden = dressup("train", "colour", "--model", result.model_dir, "--catalog", FPI, "--label", "articleType", check=False)
    fails_cleanly(hidden, "no 'articleType' head")  # trained on, not tagged


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


def test_the_exported_model_computes_what_the_trained_network_computes(tiny_run):
    import torch

    from dressup.training.network import FashionEncoderNet
    from dressup.training.trainer import CHECKPOINT, _frozen_session, imagenet_weights

    config, result, table, _ = tiny_run
    encoder = create_encoder(result.model_dir)
    saved = torch.load(result.model_dir.with_name(result.model_dir.name + ".training") / CHECKPOINT, weights_only=False)
    net = FashionEncoderNet(config.first_trained_block, config.dimension,
                            {k: len(v) for k, v in encoder.spec.extra["labels"].items()})
    net.load_state_dict(saved["state"]["best"])
    paths = [FPI / "images" / f"{i}.jpg" for i in table["id"][:4]]
    pixels = np.stack([encoder.preprocess(path) for path in paths])
    maps = _frozen_session(imagenet_weights(), encoder.spec, config.first_trained_block, None).run(None, {"images": pixels})[0]
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(maps))[0].numpy()
    assert np.allclose(encoder.encode(paths), expected, atol=1e-4)  # ONNX export = the trained torch network
