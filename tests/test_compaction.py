"""The catalog journal folded into a new base generation; crashes during edits and compactions lose nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conftest import FPI
from dressup import Store
from dressup.store.compaction import compact
from dressup.store.editing import Edit, apply_edits


def photo(item_id) -> bytes:
    return (FPI / "images" / f"{item_id}.jpg").read_bytes()


def answers(store: Store, ids) -> dict:
    return {item_id: ([m.id for m in store.similar(item_id, k=8)], store.item(item_id).to_dict()) for item_id in ids}


def test_compaction_folds_the_journal_and_the_store_answers_the_same(small_store):
    ids = small_store.ids.tolist()
    apply_edits(small_store.path, [
        Edit("add", "new-1", {"title": "New one", "category": "Shirts"}, photo(ids[40])),
        Edit("add", "new-2", {"title": "New two"}, photo(ids[41])),
        Edit("update", ids[3], {"title": "Renamed", "in_stock": False}),
        Edit("update", ids[4], {}, photo(ids[50])),  # a new photo: a new row
        Edit("remove", ids[5]), Edit("remove", "new-2"),
    ])
    before = Store.open(small_store.path)
    asked = [i for i in ids[:30] if i != ids[5]] + ["new-1"]
    expected = answers(before, asked)
    report = compact(small_store.path)
    after = Store.open(small_store.path)
    assert report.folded == 6 and not report.rebuilt and after.manifest["generation"] != before.manifest["generation"]
    assert after.manifest["journal_seq"] == before.state.seq and not after.state.records  # nothing left to apply
    assert answers(after, asked) == expected and len(after) == len(before) == 120
    assert ids[5] not in after and "new-2" not in after and after.item(ids[3]).in_stock is False
    assert compact(small_store.path) is None  # nothing new to fold


def test_a_reader_keeps_its_generation_until_it_closes(small_store):
    reader = Store.open(small_store.path)
    first = reader.manifest["generation"]
    apply_edits(small_store.path, [Edit("remove", reader.ids[0])])
    compact(small_store.path)
    assert (small_store.path / first).is_dir()  # held by the reader
    assert reader.similar(reader.ids[1], k=3)
    reader.close()
    small_store.close()
    apply_edits(small_store.path, [Edit("remove", reader.ids[1])])
    compact(small_store.path)
    assert not (small_store.path / first).exists()


def test_many_removed_rows_rebuild_the_index(small_store):
    ids = small_store.ids.tolist()
    apply_edits(small_store.path, [Edit("remove", item_id) for item_id in ids[:50]])
    report = compact(small_store.path)
    store = Store.open(small_store.path)
    assert report.rebuilt and store.rows == len(store) == 70 and store.index.removed is None
    assert all(m.id in ids[50:] for m in store.similar(ids[60], k=20))


EDITOR = """
import sys
from pathlib import Path
from dressup import Store
from dressup.store.editing import Edit, apply_edits
store = Store.open(sys.argv[1])
photos = sys.argv[2:]
for number in range(1000):
    item_id = f"crash-{number}"
    apply_edits(store, [Edit("add", item_id, {"title": f"Added {number}", "price": number}, Path(photos[number % len(photos)]))])
    print(item_id, flush=True)  # acknowledged: the edit has returned
"""


def test_a_kill_during_edits_loses_no_acknowledged_change(small_store, tmp_path):
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    photos = [str(FPI / "images" / f"{i}.jpg") for i in small_store.ids[:20]]
    editor = subprocess.Popen([sys.executable, str(script), str(small_store.path), *photos], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    for line in editor.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == 15:
            break
    time.sleep(np.random.default_rng(0).uniform(0.0, 0.05))
    editor.send_signal(signal.SIGKILL)
    acknowledged += [line.strip() for line in editor.stdout]
    editor.wait()
    store = Store.open(small_store.path)
    assert all(item_id in store for item_id in acknowledged)
    assert [store.item(i).title for i in acknowledged] == [f"Added {i.split('-')[1]}" for i in acknowledged]
    assert store.similar(acknowledged[-1], k=3)


COMPACTOR = """
import sys
from dressup.store.compaction import compact
print("started", flush=True)
compact(sys.argv[1])
print("done", flush=True)
"""


def test_a_kill_during_compaction_leaves_a_store_that_opens_with_every_change(small_store, tmp_path):
    ids = small_store.ids.tolist()
    apply_edits(small_store.path, [Edit("update", item_id, {"title": f"Changed {n}"}) for n, item_id in enumerate(ids[:60])]
                + [Edit("remove", item_id) for item_id in ids[60:70]])
    script = tmp_path / "compactor.py"
    script.write_text(COMPACTOR)
    for delay in (0.05, 0.3, 0.8, 1.5):
        compactor = subprocess.Popen([sys.executable, str(script), str(small_store.path)], stdout=subprocess.PIPE, text=True)
        compactor.stdout.readline()  # imports done: the compaction is under way
        time.sleep(delay)
        compactor.send_signal(signal.SIGKILL)
        compactor.wait()
        store = Store.open(small_store.path)
        assert [store.item(i).title for i in ids[:60]] == [f"Changed {n}" for n in range(60)]
        assert not any(i in store for i in ids[60:70]) and len(store) == 110
        store.close()
    assert compact(small_store.path) is not None or Store.open(small_store.path).manifest["journal_seq"] > 0
    leftovers = [p.name for p in Path(small_store.path).iterdir() if p.name.endswith(".tmp")]
    assert compact(small_store.path) is None and len(Store.open(small_store.path)) == 110, leftovers
