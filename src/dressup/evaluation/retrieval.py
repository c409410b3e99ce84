"""Evaluation of similar-item retrieval: precision@k per label and jointly, with a picture of samples."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DressUpError
from ..metrics import label_matches, precision_at_k
from ..store import Store


@dataclass
class RetrievalReport:
    """Precision@k of similar-item results, per label and for all labels at once."""

    k: int
    queries: int
    gallery: int
    precision: dict[str, float] = field(default_factory=dict)
    encoder: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def read_split_queries(store: Store, split_file: str | Path, split: str = "test") -> np.ndarray:
    """Rows of the store whose id is marked ``split`` in a (id, split) table."""
    from ..catalog import read_split

    rows = np.flatnonzero(read_split(store.items["id"], split_file, unlisted="") == split)
    if len(rows) == 0:
        raise DressUpError(f"{split_file}: no item of the store is in the {split!r} split")
    return rows


def read_results(store: Store, results_file: str | Path) -> dict[str, list[str]]:
    """Similar-item lists from a `dressup similar --all` JSON-lines file."""
    results = {}
    with open(results_file) as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
                results[str(record["item"])] = [str(s["id"]) for s in record["similar"]]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DressUpError(f"{results_file}:{number}: not a similar-items line") from None
    return results


def evaluate_retrieval(
    store: Store,
    labels: list[str],
    k: int = 10,
    query_rows: np.ndarray | None = None,
    results: dict[str, list[str]] | None = None,
) -> tuple[RetrievalReport, np.ndarray, np.ndarray]:
    """Precision@k for each label and jointly; also returns the query rows and their result rows."""
    columns = [store.column_named(label) for label in labels]
    if query_rows is None:
        query_rows = np.flatnonzero(store.state.alive)
    if results is None:
        found, _ = store.search_vectors(store.vectors[query_rows], k, exclude=list(query_rows))
    else:
        found = np.full((len(query_rows), k), -1, np.int64)
        for position, row in enumerate(query_rows):
            ids = [item for item in results.get(store.items["id"].iat[row], []) if item in store][:k]
            found[position, : len(ids)] = [store.row(item) for item in ids]
    report = RetrievalReport(k=k, queries=len(query_rows), gallery=len(store), encoder=store.manifest["encoder"]["name"])
    joint = np.ones(found.shape, bool)
    for label, column in zip(labels, columns):
        values = np.append(store.items[column].astype(object).to_numpy(), None)  # row -1 -> None
        hits = label_matches(values[query_rows], values[found])
        report.precision[label] = precision_at_k(hits, k)
        joint &= hits
    if len(labels) > 1:
        report.precision["+".join(labels)] = precision_at_k(joint, k)
    return report, query_rows, found


def plot_retrieval_samples(store: Store, query_rows, found, label: str, path: str | Path, samples: int = 8,
                           seed: int = 0) -> Path:
    """A PNG grid: each row a query image and its results, framed green when ``label`` matches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    column = store.column_named(label)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(query_rows), size=min(samples, len(query_rows)), replace=False)
    k = found.shape[1]
    figure, axes = plt.subplots(len(picks), k + 1, figsize=(1.3 * (k + 1), 1.6 * len(picks)), squeeze=False)
    for line, pick in enumerate(picks):
        query = query_rows[pick]
        for position, row in enumerate([query, *found[pick]]):
            axis = axes[line, position]
            axis.set_xticks([]), axis.set_yticks([])
            if row < 0:
                continue
            try:
                image = Image.open(store.items["image"].iat[row]).convert("RGB")
                image.thumbnail((128, 128))
                axis.imshow(image)
            except OSError:
                pass
            value = store.items[column].iat[row]
            axis.set_title(str(value)[:16], fontsize=6)
            colour = "black" if position == 0 else ("green" if value == store.items[column].iat[query] else "red")
            for spine in axis.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2 if position == 0 else 1.5)
    axes[0, 0].set_ylabel("query", fontsize=7)
    figure.suptitle(f"{store.manifest['encoder']['name']}: queries and their {k} most similar items ({label})", fontsize=9)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
