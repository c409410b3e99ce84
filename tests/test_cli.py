"""The `dressup` command as a shop's script runs it: exit codes, messages, output files."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import FPI


def dressup(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "dressup.cli", *map(str, args)], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"dressup {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_similar_table_and_json(small_store):
    item = small_store.items["id"].iat[0]
    table = dressup("similar", "--store", small_store.path, "--item", item, "-k", "3")
    first_cells = [line.split("│")[1].strip() for line in table.stdout.splitlines() if line.startswith("│")]
    ids = [cell for cell in first_cells if cell]
    assert f"similar to {item}" in table.stdout
    assert len(ids) == 3 and item not in ids and all(i in small_store for i in ids)
    result = json.loads(dressup("similar", "--store", small_store.path, "--item", item, "-k", "4", "--json",
                                "--where", "gender=Men", "--max-price", "80").stdout)
    assert len(result["items"]) == 4
    assert all(r["gender"] == "Men" and r["price"] <= 80 for r in result["items"])


def test_similar_by_image(small_store):
    item = small_store.items["id"].iat[5]
    result = json.loads(dressup("similar", "--store", small_store.path, "--image", FPI / "images" / f"{item}.jpg", "--json").stdout)
    assert result["items"][0]["id"] == item


def test_similar_all_writes_one_line_per_item(small_store, tmp_path):
    output = tmp_path / "similar.jsonl"
    dressup("similar", "--store", small_store.path, "--all", "-k", "10", "--output", output)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["item"] for line in lines] == small_store.items["id"].tolist()
    for line in lines:
        assert len(line["similar"]) == 10
        assert line["item"] not in [s["id"] for s in line["similar"]]
        assert set(line["similar"][0]) == {"id", "score"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--item", "no-such-item"], "unknown item id 'no-such-item'"),
        (["--item", "[bold]shirt[/]"], "unknown item id '[bold]shirt[/]'"),  # brackets in a message are text
        (["--item", "X", "--where", "fabric=silk"], "unknown filter column 'fabric'"),
        (["--item", "X", "--where", "category"], "malformed filter"),
        (["--image", "/no/such/photo.jpg"], "no such file"),
        ([], "exactly one of --item, --image or --all"),
        (["--all"], "--all needs --output"),
    ],
)
def test_bad_input_gives_one_clear_message_and_exit_1(small_store, args, message):
    args = [a if a != "X" else small_store.items["id"].iat[0] for a in args]
    result = dressup("similar", "--store", small_store.path, *args, check=False)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_index_bad_table_and_missing_store(tmp_path, small_store):
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name\n1,shirt\n")
    manifest = (small_store.path / "manifest.json").read_text()
    result = dressup("index", bad, "--store", small_store.path, check=False)
    assert result.returncode == 1 and "cannot find the image column" in result.stderr
    assert (small_store.path / "manifest.json").read_text() == manifest
    result = dressup("similar", "--store", tmp_path / "nowhere", "--item", "1", check=False)
    assert result.returncode == 1 and "not a DressUp store" in result.stderr


def test_index_reports_unreadable_images_and_succeeds(tmp_path, styles):
    table = styles.head(12).copy()
    table["image"] = [str(FPI / "images" / f"{i}.jpg") for i in table["id"]]
    table.loc[2, "image"] = str(tmp_path / "gone.jpg")
    table.to_csv(tmp_path / "catalog.csv", index=False)
    result = dressup("index", tmp_path / "catalog.csv", "--store", tmp_path / "store")
    assert "skipped 1 unreadable image" in result.stderr and "gone.jpg" in result.stderr
    listing = (tmp_path / "store" / "reports" / "unreadable-images.txt").read_text()
    assert str(table.id.iat[2]) in listing
    assert "11 items" in " ".join(result.stdout.split())


def test_eval_retrieval_writes_report_and_picture(small_store, tmp_path):
    split = tmp_path / "split.csv"
    ids = small_store.items["id"]
    pd.DataFrame({"id": ids, "split": ["test" if i % 4 == 0 else "train" for i in range(len(ids))]}).to_csv(split, index=False)
    result = dressup("eval", "retrieval", "--store", small_store.path, "--label", "articleType", "--label", "baseColour",
                     "--split-file", split, "--output-dir", tmp_path / "out")
    report = json.loads((tmp_path / "out" / "retrieval.json").read_text())
    assert report["queries"] == 30 and report["gallery"] == 120
    assert set(report["precision"]) == {"articleType", "baseColour", "articleType+baseColour"}
    assert report["precision"]["articleType+baseColour"] <= report["precision"]["articleType"]
    assert 0.3 < report["precision"]["articleType"] <= 1.0
    assert (tmp_path / "out" / "retrieval-samples.png").stat().st_size > 10_000
    assert "articleType" in result.stdout


def test_eval_retrieval_scores_a_similar_all_file_the_same(small_store, tmp_path):
    output = tmp_path / "similar.jsonl"
    dressup("similar", "--store", small_store.path, "--all", "--output", output)
    searched = dressup("eval", "retrieval", "--store", small_store.path, "--label", "articleType", "--output-dir", tmp_path / "a")
    scored = dressup("eval", "retrieval", "--store", small_store.path, "--label", "articleType", "--results", output,
                     "--output-dir", tmp_path / "b")
    a = json.loads((tmp_path / "a" / "retrieval.json").read_text())["precision"]
    b = json.loads((tmp_path / "b" / "retrieval.json").read_text())["precision"]
    assert a == pytest.approx(b) and searched.returncode == scored.returncode == 0


def test_serving_path_does_not_import_torch(small_store):
    code = (
        "import sys; from dressup import Store; import dressup.cli; "
        f"s = Store.open({str(small_store.path)!r}); s.similar(item=s.items['id'].iat[0]); "
        f"s.similar(image={str(FPI / 'images' / '10000.jpg')!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
