"""Learn outfit compatibility from stylists' outfits (torch; the ``[train]`` extra).

Training mimics fill-in-the-blank: hide one item of a stylist's outfit and make it score above
items of the same slot (the hard negatives a shopper's choice is really between) given the rest.
Memory vectors of known items are dropped half of the time, so the content path alone must also
solve the task: that is what judges new arrivals.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..outfits import OutfitModel, OutfitTable, item_slots, read_outfits, slot_templates
from ..outfits.model import CompatibilityModel, ItemFeatures
from ..progress import SILENT, Progress
from ..store import Store
from ..threads import job_threads


@dataclass(frozen=True)
class OutfitTrainConfig:
    dimension: int = 128
    hidden: int = 256
    image_dimension: int = 128  # PCA of the store's image embeddings
    epochs: int = 20
    batch_size: int = 256
    negatives: int = 16
    temperature: float = 0.07
    lr: float = 2e-3
    weight_decay: float = 1e-4
    memory_dropout: float = 0.5
    dropout: float = 0.2
    seed: int = 0
    threads: int | None = None  # None: the cores free when training starts (`dressup.threads.free_cores`)


class _Net(nn.Module):
    def __init__(self, width: int, config: OutfitTrainConfig, warm: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, config.dimension))
        self.memory = nn.Embedding(warm + 1, config.dimension, padding_idx=0)  # row 0: no memory, stays zero
        nn.init.zeros_(self.memory.weight)
        self.memory_dropout = config.memory_dropout

    def forward(self, x: torch.Tensor, memory_rows: torch.Tensor) -> torch.Tensor:
        if self.training and self.memory_dropout:
            keep = torch.rand(memory_rows.shape) >= self.memory_dropout
            memory_rows = memory_rows * keep
        return F.normalize(self.mlp(x) + self.memory(memory_rows), dim=-1)


def train_outfit_model(store: Store | str | Path, outfits: str | Path | OutfitTable, config: OutfitTrainConfig | None = None,
                       progress: Progress = SILENT) -> OutfitModel:
    """Learn compatibility from an (outfit, item) table and save the model in the store."""
    store = store if isinstance(store, Store) else Store.open(store)
    table = outfits if isinstance(outfits, OutfitTable) else read_outfits(outfits, store)
    with job_threads((config or OutfitTrainConfig()).threads) as threads:
        compatibility = train_compatibility(store, table, config, progress)
    compatibility.info["threads"] = threads
    slots = item_slots(store)
    compatibility.info["templates"] = [[list(t), c] for t, c in slot_templates(table, slots).most_common()]
    compatibility.info["looks"] = stylist_looks(store, table, slots)
    compatibility.info["unknown_items"] = table.unknown_items
    compatibility.save(store.path)
    return OutfitModel(store, compatibility)


def stylist_looks(store: Store, table: OutfitTable, slots) -> list[list]:
    """The stylists' outfits as ``[outfit id, [[item id, slot], ...]]``: offered first when a cart holds one of their
    items (the slot tells what replaces an item that has left the catalog)."""
    looks = []
    for outfit, rows in zip(table.ids, table.rows, strict=True):
        looks.append([outfit, [[str(item), str(slot)] for item, slot in zip(store.state.ids_of(rows), slots[rows], strict=True)]])
    return looks


def train_compatibility(store: Store, outfits: OutfitTable, config: OutfitTrainConfig | None = None,
                        progress: Progress = SILENT) -> CompatibilityModel:
    """Fit the compatibility model on ``outfits`` (rows of ``store``); ``progress`` hears of the "outfit model" step."""
    config = config or OutfitTrainConfig()
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    embeddings = np.asarray(store.embeddings(), np.float32)
    features = ItemFeatures.fit(store, dimension=config.image_dimension)
    x = torch.from_numpy(features.matrix(embeddings, store.items))
    usage = outfits.usage(store.rows)
    warm_rows = np.flatnonzero(usage > 0)
    memory_index = np.zeros(store.rows, np.int64)
    memory_index[warm_rows] = np.arange(1, len(warm_rows) + 1)
    memory_index_t = torch.from_numpy(memory_index)
    slots = item_slots(store)
    slot_codes, slot_names = pd_factorize(slots)
    by_slot = [np.flatnonzero(slot_codes == s) for s in range(len(slot_names))]

    net = _Net(x.shape[1], config, len(warm_rows))
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = max(1, len(outfits) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps, pct_start=0.1)
    total_steps = config.epochs * steps
    history = []
    for epoch in range(config.epochs):
        net.train()
        order = rng.permutation(len(outfits))
        total = 0.0
        for step in range(steps):
            batch = [outfits.rows[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]]
            loss = _fitb_loss(net, x, memory_index_t, batch, slot_codes, by_slot, config, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
            progress.update("outfit model", epoch * steps + step + 1, total_steps, loss=round(total / (step + 1), 4))
        history.append({"epoch": epoch + 1, "loss": round(total / steps, 4)})
    net.eval()
    weights = {
        "w1": net.mlp[1].weight.detach().numpy().T.copy(),
        "b1": net.mlp[1].bias.detach().numpy().copy(),
        "w2": net.mlp[3].weight.detach().numpy().T.copy(),
        "b2": net.mlp[3].bias.detach().numpy().copy(),
        "memory": net.memory.weight.detach().numpy()[1:].copy(),
    }
    info = {
        "config": asdict(config),
        "outfits": len(outfits),
        "items_in_outfits": len(warm_rows),
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
        "encoder": store.manifest["encoder"]["name"],
        "encoder_fingerprint": store.manifest["encoder"].get("fingerprint"),
    }
    memory_ids = store.items["id"].to_numpy()[warm_rows].tolist()
    return CompatibilityModel(weights, features, memory_ids, info)


def pd_factorize(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    names, codes = np.unique(values.astype(str), return_inverse=True)
    return codes, names.tolist()


def _fitb_loss(net, x, memory_index, batch, slot_codes, by_slot, config, rng) -> torch.Tensor:
    """Cross-entropy of the hidden item against same-slot negatives, given the rest of its outfit."""
    targets, contexts, candidates = [], [], []
    for rows in batch:
        hidden = rows[rng.integers(len(rows))]
        rest = rows[rows != hidden]
        pool = by_slot[slot_codes[hidden]]
        negatives = pool[rng.integers(len(pool), size=config.negatives)]
        negatives = np.where(np.isin(negatives, rows), rng.integers(len(x), size=config.negatives), negatives)
        targets.append(hidden)
        contexts.append(rest)
        candidates.append(np.concatenate([[hidden], negatives]))
    candidates = torch.from_numpy(np.stack(candidates))
    cand_vectors = net(x[candidates], memory_index[candidates])  # (B, 1 + K, d)
    lengths = [len(c) for c in contexts]
    flat = torch.from_numpy(np.concatenate(contexts))
    context_vectors = net(x[flat], memory_index[flat])
    pooled = torch.stack([part.mean(0) for part in torch.split(context_vectors, lengths)])
    logits = torch.einsum("bd,bkd->bk", F.normalize(pooled, dim=-1), cand_vectors) / config.temperature
    return F.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
