"""The `dressup` command as a shop's script runs it: exit codes, messages, output files."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import FPI, HM, dressup, fails_cleanly, fpi_table


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
    result = json.loads(dressup("similar", "--store", small_store.path, "--image", FPI / "images" / f"{item}.jpg",
                                "--json").stdout)
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


def test_eval_retrieval_queries_the_catalogs_test_split_by_default_and_says_so(small_store, tmp_path):
    source = Path(small_store.manifest["source"]["path"])
    splits = (source if source.is_dir() else source.parent) / "splits.csv"
    ids = small_store.items["id"]
    pd.DataFrame({"id": ids, "split": ["test" if i % 3 == 0 else "train" for i in range(len(ids))]}).to_csv(splits, index=False)
    try:
        default = dressup("eval", "retrieval", "--store", small_store.path, "--label", "articleType",
                          "--output-dir", tmp_path / "a")
        every = dressup("eval", "retrieval", "--store", small_store.path, "--label", "articleType", "--all-items",
                        "--output-dir", tmp_path / "b")
    finally:
        splits.unlink()
    assert json.loads((tmp_path / "a" / "retrieval.json").read_text())["queries"] == 40
    assert "(test split of splits.csv)" in default.stdout
    assert json.loads((tmp_path / "b" / "retrieval.json").read_text())["queries"] == len(ids)
    assert "(every item)" in every.stdout


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


# -- users, events and feeds: checked before the work, said on stderr, nothing ignored in silence ---------------

@pytest.fixture(scope="module")
def hm_events(hm_store_path, tmp_path_factory):
    """A copy of the H&M subset's store with its real purchases imported by `dressup events import`."""
    store = tmp_path_factory.mktemp("cli-hm") / "store"
    shutil.copytree(hm_store_path, store)
    dressup("events", "import", "--store", store, hm_store_path.parent / "catalog" / "transactions.csv")
    return store


def customers(hm_store_path, count: int) -> list[str]:
    sales = pd.read_csv(hm_store_path.parent / "catalog" / "transactions.csv", dtype=str)
    return sales["customer_id"].drop_duplicates().head(count).tolist()


def test_output_paths_are_checked_before_any_work(hm_events, hm_store_path, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("\n".join(customers(hm_store_path, 3)) + "\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    recommend = ["recommend", "--store", hm_events, "--users", users, "-k", "3", "-o"]
    fails_cleanly(dressup(*recommend, folder, check=False), f"cannot write {folder}: it is a folder")
    fails_cleanly(dressup(*recommend, users / "recs.jsonl", check=False), f"{users} is a file, not a folder")
    fails_cleanly(dressup("similar", "--store", hm_events, "--all", "-o", folder, check=False), "it is a folder")
    events = HM / "transactions.csv"
    fails_cleanly(dressup("eval", "personalization", "--store", hm_events, "--events", events, "--split-date", "2020-05-01",
                          "--output-dir", users, check=False), f"cannot write into {users}: {users} is a file, not a folder")
    assert users.read_text().count("\n") == 3 and list(folder.iterdir()) == []
    dressup(*recommend, tmp_path / "new" / "recs.jsonl")  # a missing folder is created, as before
    assert len((tmp_path / "new" / "recs.jsonl").read_text().splitlines()) == 3


def test_events_import_into_a_folder_that_is_not_a_store_creates_nothing(tmp_path):
    fails_cleanly(dressup("events", "import", "--store", tmp_path, HM / "transactions.csv", check=False), "not a DressUp store")
    assert list(tmp_path.iterdir()) == []


def test_feeds_of_users_without_events_are_reported_on_stderr(hm_events, hm_store_path, tmp_path):
    known = customers(hm_store_path, 2)
    cold = json.loads(dressup("recommend", "--store", hm_events, "--user", "nobody", "-k", "3", "--json").stdout)
    assert len(cold["items"]) == 3  # stdout stays JSON
    assert "user nobody has no events: the feed is popular items" in dressup(
        "recommend", "--store", hm_events, "--user", "nobody", "-k", "3", "--json").stderr
    assert "no events" not in dressup("recommend", "--store", hm_events, "--user", known[0], "-k", "3").stderr
    users = tmp_path / "users.txt"
    users.write_text(f"{known[0]}\nnobody\n\n{known[1]}\nnobody-else\n")
    batch = dressup("recommend", "--store", hm_events, "--users", users, "-k", "3", "-o", tmp_path / "recs.jsonl")
    assert "2 of 4 users have no events: their feeds are popular items" in batch.stderr
    empty = tmp_path / "store"
    shutil.copytree(hm_store_path, empty)
    result = dressup("recommend", "--store", empty, "--user", known[0], "-k", "3")
    assert "the event database is empty" in " ".join(result.stderr.split())


def test_a_users_file_answers_each_user_once(hm_events, hm_store_path, tmp_path):
    a, b = customers(hm_store_path, 2)
    users = tmp_path / "users.txt"
    users.write_text(f"{b}\n\n{a}\n{b}\n  {a}  \n\n")
    output = tmp_path / "recs.jsonl"
    result = dressup("recommend", "--store", hm_events, "--users", users, "-k", "4", "-o", output)
    assert [json.loads(line)["user"] for line in output.read_text().splitlines()] == [b, a]
    assert "wrote 2 lines" in result.stderr


def test_output_with_one_user_writes_the_line_a_users_file_would(hm_events, hm_store_path, tmp_path):
    user = customers(hm_store_path, 1)[0]
    (tmp_path / "users.txt").write_text(user + "\n")
    dressup("recommend", "--store", hm_events, "--users", tmp_path / "users.txt", "-k", "5", "-o", tmp_path / "batch.jsonl")
    single = dressup("recommend", "--store", hm_events, "--user", user, "-k", "5", "-o", tmp_path / "one.jsonl")
    assert single.stdout == "" and "wrote 1 line" in single.stderr
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "batch.jsonl").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "--users", "USERS", "--json", "-o", "OUT"], "--users always writes JSON lines to --output"),
        (["recommend", "--user", "nobody", "--json", "-o", "OUT"], "give --json (print the feed) or --output"),
        (["recommend", "--liked", "0706016001", "-o", "OUT"], "--output goes with --users or --user"),
        (["similar", "--item", "0706016001", "-o", "OUT"], "--output goes with --all"),
        (["similar", "--all", "--json", "-o", "OUT"], "--all always writes JSON lines to --output"),
    ],
)
def test_options_that_would_be_ignored_are_errors(hm_events, tmp_path, args, message):
    (tmp_path / "users.txt").write_text("nobody\n")
    args = [{"USERS": tmp_path / "users.txt", "OUT": tmp_path / "out.jsonl"}.get(a, a) for a in args]
    fails_cleanly(dressup(*args, "--store", hm_events, check=False), message)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "--user", "u", "--max-price", "-1"], "-1 is not a price"),
        (["recommend", "--user", "u", "--max-price", "nan"], "nan is not a price"),
        (["similar", "--item", "i", "--min-price", "inf"], "inf is not a price"),
        (["similar", "--item", "i", "--max-price", "-0.5"], "-0.5 is not a price"),
        (["similar", "--item", "i", "--min-price", "5", "--max-price", "1"], "the lowest price (5) is above the highest (1)"),
        (["outfits", "complete", "--items", "i", "--budget", "-3"], "-3 is not a price"),
    ],
)
def test_prices_must_be_finite_and_not_negative(tmp_path, args, message):
    fails_cleanly(dressup(*args, "--store", tmp_path, check=False), message, status=2)


def test_eval_personalization_dates_and_skipped_rows(hm_events, hm_store_path, tmp_path):
    events = hm_store_path.parent / "catalog" / "transactions.csv"
    evaluate = ["eval", "personalization", "--store", hm_events, "--split-date", "2020-05-01", "--output-dir", tmp_path / "out"]
    fails_cleanly(dressup(*evaluate, "--events", events, "--end-date", "2020-04-01", check=False),
                  "the end date (2020-04-01) must come after the split date (2020-05-01)")
    fails_cleanly(dressup(*evaluate, "--events", events, "--end-date", "2020-05-01", check=False), "must come after")
    with_bad_rows = tmp_path / "transactions.csv"
    lines = events.read_text().splitlines()
    with_bad_rows.write_text("\n".join([*lines, "2020-06-31,somebody,0706016001,0.02,2", "2020-06-03,,0706016001,0.02,2"]) + "\n")
    result = dressup(*evaluate, "--events", with_bad_rows)
    stderr = " ".join(result.stderr.split())
    assert f"skipped 1 row(s): no user id (line {len(lines) + 2})" in stderr
    assert "skipped 1 row(s): unreadable timestamp" in stderr and f"(line {len(lines) + 1})" in stderr
    assert (tmp_path / "out" / "personalization.json").is_file()


def test_help_shows_the_train_extra():
    assert "(needs the [train] extra)" in " ".join(dressup("--help").stdout.split())


def test_an_imported_customer_gets_a_token_for_the_rest_api(hm_events, hm_store_path):
    from dressup.users import EventStore

    customer = customers(hm_store_path, 1)[0]
    result = dressup("users", "token", "--store", hm_events, "--user", customer, check=False)
    assert result.returncode == 0, result.stderr
    events = EventStore.open(hm_events)
    assert events.user_for_token(result.stdout.strip()) == customer
    events.close()
    fails_cleanly(dressup("users", "token", "--store", hm_events, "--user", "nobody-at-all", check=False),
                  "unknown user 'nobody-at-all'")


def test_version_is_printed_without_a_command():
    from dressup.version import __version__

    result = dressup("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"dressup {__version__}"


def without_packages(folder, *packages) -> dict:
    """The environment of a `dressup` process in which ``packages`` cannot be imported, as without their extra."""
    for package in packages:
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text(f"raise ImportError('No module named {package}')\n")
    return {**os.environ, "PYTHONPATH": str(folder)}


def test_commands_of_a_missing_extra_say_which_to_install_before_any_work(small_store, styles, tmp_path):
    env = without_packages(tmp_path / "blocked", "matplotlib", "sentence_transformers")
    for args, extra in [(["eval", "retrieval", "--store", small_store.path, "--label", "category"], "eval"),
                        (["eval", "tagging", "--output-dir", tmp_path / "tags"], "eval")]:
        done = subprocess.run([sys.executable, "-m", "dressup.cli", *map(str, args)], capture_output=True, text=True, env=env)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"pip install 'dressup[{extra}]'" in done.stderr
    fpi_table(styles, 400).to_csv(tmp_path / "catalog.csv", index=False)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dressup.cli", "index", str(tmp_path / "catalog.csv"), "--store",
                           str(tmp_path / "fused"), "--fuse", "text=0.3"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "pip install 'dressup[text]'" in done.stderr and "Traceback" not in done.stderr
    assert time.perf_counter() - began < 20 and not list((tmp_path / "fused").rglob("chunk-*"))  # no image embedded


def test_info_summarises_a_store_and_gives_its_manifest_with_json(small_store):
    summary = dressup("info", "--store", small_store.path).stdout
    lines = {line.split()[0]: line for line in summary.splitlines() if line.strip()}
    assert f"{len(small_store):,} items" in lines["catalog"]
    assert small_store.manifest["encoder"]["name"] in lines["encoder"]
    assert {"store", "index", "text", "outfits", "events", "versions"} <= set(lines)
    assert len(summary.splitlines()) < 20  # a summary, not the manifest's labels
    manifest = json.loads(dressup("info", "--store", small_store.path, "--json").stdout)
    assert manifest["counts"]["items"] == len(small_store)


def test_tables_piped_into_a_file_are_not_cut_at_80_columns(hm_store_path):
    from dressup import Store

    item = Store.open(hm_store_path).items["id"].iat[0]
    table = dressup("similar", "--store", hm_store_path, "--item", item, "-k", "10").stdout
    assert "…" not in table and max(len(line) for line in table.splitlines()) > 80


def test_help_keeps_the_brackets_of_json_line_formats():
    assert dressup("outfits", "fitb", "--help").stdout.count("[ids]") == 2  # {"id", "outfit": [ids], "candidates": [ids]}
