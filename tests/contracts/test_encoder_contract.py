"""Every registered encoder (`dressup.encoders.encoder_names`) keeps the `Encoder` contract."""

import numpy as np
import pandas as pd
import pytest

from conftest import FPI
from dressup.catalog import read_catalog
from dressup.encoders import create_encoder, encoder_names
from dressup.images import ImageError, content_hash

NAMES = encoder_names()


@pytest.fixture(scope="module", params=NAMES)
def encoder(request):
    if request.param == "minilm-l6-v2":
        pytest.importorskip("sentence_transformers")
    return create_encoder(request.param)


@pytest.fixture(scope="module")
def items(tmp_path_factory, styles) -> pd.DataFrame:
    """Five real products as an item table, with their images' content hashes (as a store keeps them)."""
    folder = tmp_path_factory.mktemp("encoder-items")
    table = styles.iloc[:5].assign(image=[str(FPI / "images" / f"{i}.jpg") for i in styles["id"].iloc[:5]])
    table.to_csv(folder / "catalog.csv", index=False)
    items = read_catalog(folder / "catalog.csv")
    items["image_hash"] = [content_hash(open(path, "rb").read()) for path in items["image"]]
    return items


def test_it_embeds_items_as_unit_rows_of_its_dimension(encoder, items):
    vectors = encoder.encode(encoder.item_inputs(items))
    assert vectors.shape == (len(items), encoder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.linalg.matrix_rank(vectors) > 1  # different products, different vectors


def test_no_inputs_give_an_empty_matrix(encoder):
    assert encoder.encode([]).shape == (0, encoder.dimension)


def test_a_vector_does_not_depend_on_its_batch(encoder, items):
    inputs = encoder.item_inputs(items)
    together = encoder.encode(inputs)
    alone = np.vstack([encoder.encode([one]) for one in inputs])
    # int8 models quantise activations per batch: their label channels (softmax outputs) move by up to ~3e-3
    assert np.allclose(together, alone, atol=5e-3)
    assert np.array_equal(encoder.encode(inputs), together)


def test_its_fingerprint_names_its_weights_and_preprocessing(encoder):
    assert encoder.fingerprint == create_encoder(encoder.name).fingerprint
    others = {create_encoder(name).fingerprint for name in NAMES if name not in (encoder.name, "minilm-l6-v2")}
    assert encoder.fingerprint not in others


def test_an_items_key_changes_with_what_the_encoder_reads_and_nothing_else(encoder, items):
    keys = encoder.item_keys(items)
    assert [key[0] for key in keys] == items["id"].tolist() and len(set(keys)) == len(items)
    changed = items.copy()
    changed.loc[0, "image_hash"] = "another photo"
    changed.loc[1, "title"] = "Another title"
    moved = [i for i, (a, b) in enumerate(zip(keys, encoder.item_keys(changed), strict=True)) if a != b]
    assert moved == ([0] if encoder.kind == "image" else [1])


def test_an_unreadable_photo_is_one_clear_error(encoder, tmp_path):
    if encoder.kind != "image":
        pytest.skip("reads text")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    with pytest.raises(ImageError, match="broken.jpg"):
        encoder.encode([broken])
