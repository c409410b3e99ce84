"""`OutfitModel`: complete outfits around a cart, score outfits and answer fill-in-the-blank questions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..embeddings import normalize_rows
from ..errors import DressUpError
from ..images import ImageInput
from ..product_types import coarse_types
from ..store import Filters, Store
from .data import item_slots
from .model import CompatibilityModel, outfit_score
from .scorers import CompatibilityScorer


class OutfitError(DressUpError, ValueError):
    """An outfit request that cannot be answered (no items, impossible budget ...)."""


@dataclass(frozen=True)
class OutfitItem:
    id: str | None  # None for an uploaded photo
    slot: str
    given: bool
    score: float = 0.0  # compatibility with the rest of the outfit
    price: float | None = None
    replaces: str | None = None  # in a stylist's outfit: the stylist's item (unavailable) that this one stands in for


STYLIST, GENERATED = "stylist", "generated"


@dataclass
class CompletedOutfit:
    items: list[OutfitItem]
    score: float
    template: tuple[str, ...] = field(default_factory=tuple)
    source: str = GENERATED  # "stylist": an outfit the shop's stylists composed around a cart item; "generated"
    look: str | None = None  # the stylists' outfit id

    @property
    def proposed(self) -> list[str]:
        """The ids of the catalog items the outfit adds to the given ones."""
        return [i.id for i in self.items if not i.given and i.id is not None]

    @property
    def total_price(self) -> float | None:
        prices = [i.price for i in self.items if i.price is not None]
        return float(sum(prices)) if prices else None


class OutfitModel:
    """Scores outfits, answers fill-in-the-blank questions and completes outfits from a cart."""

    def __init__(self, store: Store, compatibility: CompatibilityModel, state=None):
        """Completes outfits over ``state``, the catalog as it was when the model was made (the store's current one)."""
        self.store = store
        self.state = state or store.state
        self.compatibility = compatibility
        self.scorer = CompatibilityScorer(compatibility, store, self.state)
        self.vectors = self.scorer.vectors
        self.slots = item_slots(store, self.state)
        self.types = pd.Series(self.state.column("category"), dtype=object).fillna("").astype(str).to_numpy()
        self.prices = pd.to_numeric(pd.Series(self.state.column("price")), errors="coerce").to_numpy(dtype=float)
        self.genders = pd.Series(self.state.column("gender"), dtype=object).astype(str).to_numpy()
        self.templates = [(tuple(t), c) for t, c in compatibility.info.get("templates", [])]
        slot_frequency = Counter(s for t, c in self.templates for s in t for _ in range(c))
        self.slot_rank = {s: i for i, (s, _) in enumerate(slot_frequency.most_common())}
        self.template_counts = [Counter(t) for t, _ in self.templates]
        self.templates_holding: dict[tuple[str, int], set[int]] = {}  # (slot, n): templates with n or more of it
        for position, held in enumerate(self.template_counts):
            for slot, count in held.items():
                for at_least in range(1, count + 1):
                    self.templates_holding.setdefault((slot, at_least), set()).add(position)
        slot_codes, slot_names = pd.factorize(pd.Series(self.slots, dtype=object))
        order = np.argsort(slot_codes, kind="stable")
        bounds = np.searchsorted(slot_codes[order], np.arange(len(slot_names) + 1))
        self.slot_rows = {name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(slot_names)}  # candidates
        self.fill_order = {slot: (_garment_rank(self.types[rows]), self.slot_rank.get(slot, 1_000))
                           for slot, rows in self.slot_rows.items()}
        self._unit_embeddings: np.ndarray | None = None
        self.looks, self.looks_of = self._stylist_looks(compatibility.info.get("looks", []))

    @classmethod
    def load(cls, store: Store | str | Path) -> OutfitModel:
        store = store if isinstance(store, Store) else Store.open(store)
        compatibility = CompatibilityModel.load(store.path)
        trained_on = compatibility.info.get("encoder_fingerprint")
        if trained_on and trained_on != store.manifest["encoder"].get("fingerprint"):
            raise OutfitError(
                f"{store.path}: the outfit model was trained on embeddings of another encoder "
                f"({compatibility.info.get('encoder')}); train it again with `dressup outfits train`"
            )
        return cls(store, compatibility)

    # -- scoring -------------------------------------------------------------------------------
    def rows(self, items: Sequence[str]) -> np.ndarray:
        return np.array([self.state.row(item) for item in items], dtype=np.int64)

    def score(self, items: Sequence[str]) -> float:
        """Compatibility of a set of items: mean cosine over pairs (higher = more compatible)."""
        return self.scorer.outfit_score(self.rows(items))

    def fitb(self, outfit: Sequence[str], candidates: Sequence[str]) -> tuple[str, list[float]]:
        """Which candidate completes the outfit best; returns it and every candidate's score."""
        if not candidates:
            raise OutfitError("a fill-in-the-blank question needs candidates")
        scores = self.scorer.candidate_scores(self.rows(outfit), self.rows(candidates))
        return candidates[int(np.argmax(scores))], [round(float(s), 6) for s in scores]

    # -- completing ----------------------------------------------------------------------------
    def complete(
        self,
        items: Sequence[str] = (),
        n: int = 5,
        filters: Filters | None = None,
        *,
        images: Sequence[ImageInput] = (),
        budget: float | None = None,
    ) -> list[CompletedOutfit]:
        """Up to ``n`` different outfits that contain the given items (and photos), completed from the catalog.

        Which parts an outfit needs comes from the stylists' outfits (e.g. dress + shoes + bag +
        jewellery); no outfit holds two products of the same type. ``filters`` apply to the added
        products, ``budget`` to the whole outfit's price.
        """
        given_rows = self.rows(items)
        if len(given_rows) == 0 and not images:
            raise OutfitError("give at least one item id or photo to build outfits around")
        given_vectors = [self.vectors[r] for r in given_rows]
        given_slots = [self.slots[r] for r in given_rows]
        given_types = {self.types[r] for r in given_rows}
        photo_items = []
        if images:
            embeddings = self.store.encoder.encode(images)
            for vector, embedding in zip(self.compatibility.image_vectors(embeddings), embeddings, strict=True):
                slot, kind = self._guess_slot(embedding)
                given_vectors.append(vector)
                given_slots.append(slot)
                given_types.add(kind)
                photo_items.append(OutfitItem(None, slot, True))
        allowed = self._allowed(filters, given_rows)
        given_price = float(np.nansum(self.prices[given_rows])) if len(given_rows) else 0.0
        if budget is not None and np.isnan(self.prices).all():
            raise OutfitError("this store has no prices, so a budget cannot be applied")
        if budget is not None and (images or np.isnan(self.prices[given_rows]).any()):
            raise OutfitError("a budget needs the price of every given item; a photo or an item without a price has none")
        if budget is not None and given_price > budget:
            raise OutfitError(f"the given items already cost {given_price:.2f}, over the budget of {budget:.2f}")
        if not allowed.any():
            raise OutfitError("no product matches these filters, so nothing can be added to an outfit")
        outfits: list[CompletedOutfit] = []
        seen: set[tuple[int, ...]] = set()
        used = np.zeros(self.state.rows)  # how many of the outfits so far hold each row
        if not images:  # the stylists' own outfits around the cart's items come first
            for outfit, added in self._stylist_outfits(given_rows, given_types, allowed, budget, given_price, used):
                key = tuple(sorted(added))
                if key not in seen:
                    seen.add(key)
                    used[added] += 1
                    outfits.append(outfit)
                    if len(outfits) == n:
                        break
        available = set(self.slots[allowed])  # a template needing a slot that no allowed product fills is skipped at once
        wanted = []  # (template, its missing slots): those whose slots some allowed products fill
        for template in self._templates_for(given_slots):
            missing = _multiset_minus(template, given_slots)
            if missing and available.issuperset(missing):
                wanted.append((template, missing))
                if len(wanted) == TEMPLATES_TRIED * n:  # the most frequent ones: enough to find n outfits
                    break
        for template, missing in wanted * 3:  # later passes reuse templates with other products (see `used`)
            if len(outfits) == n:
                break
            filled = self._fill(missing, given_vectors, given_types, allowed, used, budget, given_price)
            if filled is None:
                continue
            rows = list(given_rows) + filled
            vectors = np.stack(given_vectors + [self.vectors[r] for r in filled])
            key = tuple(sorted(filled))
            if key in seen:
                continue
            seen.add(key)
            used[filled] += 1
            outfit_items = [self._item(r, vectors, i, given=i < len(given_rows)) for i, r in enumerate(rows[: len(given_rows)])]
            outfit_items += photo_items
            outfit_items += [self._item(r, vectors, len(given_vectors) + i, given=False) for i, r in enumerate(filled)]
            outfits.append(CompletedOutfit(outfit_items, round(outfit_score(vectors), 4), template))
        return outfits

    def _item(self, row: int, vectors: np.ndarray, position: int, given: bool, replaces: str | None = None) -> OutfitItem:
        others = np.delete(vectors, position, axis=0)
        score = float((others @ vectors[position]).mean()) if len(others) else 0.0
        price = None if np.isnan(self.prices[row]) else float(self.prices[row])
        return OutfitItem(str(self.state.ids[row]), self.slots[row], given, round(score, 4), price, replaces)

    # -- the stylists' outfits -----------------------------------------------------------------
    def _stylist_looks(self, looks: list) -> tuple[list[tuple], dict[int, list[int]]]:
        """The stylists' outfits (id, item ids, slots, store rows: -1 for items gone) and, for each store row, the
        outfits that hold it."""
        kept = [(str(look_id), [str(item) for item, _ in parts], [str(slot) for _, slot in parts]) for look_id, parts in looks]
        rows = self.state.rows_of([item for _, ids, _ in kept for item in ids])  # one lookup for all of them
        sizes = [len(ids) for _, ids, _ in kept]
        positions = np.repeat(np.arange(len(kept)), sizes)
        of_row: dict[int, list[int]] = {}
        for row, position in zip(rows[rows >= 0].tolist(), positions[rows >= 0].tolist(), strict=True):
            of_row.setdefault(row, []).append(position)
        split = np.split(rows, np.cumsum(sizes)[:-1]) if kept else []
        return [(*look, look_rows) for look, look_rows in zip(kept, split, strict=True)], of_row

    def _stylist_outfits(self, given_rows, given_types, allowed, budget, given_price,
                         used) -> Iterator[tuple[CompletedOutfit, list[int]]]:
        """The stylists' outfits that hold a given item, those holding the most given items first: each of their
        other items kept when it is in the catalog, passes the filters, adds a new type and fits the budget, else
        replaced by the most compatible product of its slot."""
        found = Counter(position for row in given_rows for position in self.looks_of.get(int(row), []))
        for position, _ in sorted(found.items(), key=lambda pair: (-pair[1], pair[0])):  # made as they are asked for
            look_id, ids, slots, rows = self.looks[position]
            outfit = self._stylist_outfit(look_id, ids, slots, given_rows, given_types, allowed, budget, given_price, used,
                                          rows)
            if outfit is not None:
                yield outfit

    def _stylist_outfit(self, look_id, ids, slots, given_rows, given_types, allowed, budget, given_price,
                        used, rows) -> tuple[CompletedOutfit, list[int]] | None:
        given = set(given_rows.tolist())
        kept, missing, types = [], [], set(given_types)
        remaining = None if budget is None else budget - given_price
        for item, row, slot in zip(ids, rows.tolist(), slots, strict=True):
            if row in given:
                continue
            fits = row >= 0 and allowed[row] and self.types[row] not in types
            if fits and remaining is not None:
                fits = not np.isnan(self.prices[row]) and self.prices[row] <= remaining
            if fits:
                kept.append(row)
                types.add(self.types[row])
                remaining = None if remaining is None else remaining - self.prices[row]
            elif row < 0 or self.types[row] not in given_types:  # gone, filtered out or too dear: stand-in wanted
                missing.append((slot, item))
        given_vectors = [self.vectors[r] for r in given_rows] + [self.vectors[r] for r in kept]
        stand_ins: list[tuple[int, str]] = []
        for slot, item in missing:  # one at a time: a slot no allowed product fills is left out
            spent = float(np.nansum(self.prices[kept + [r for r, _ in stand_ins]])) if budget is not None else 0.0
            filled = self._fill([slot], given_vectors + [self.vectors[r] for r, _ in stand_ins], types, allowed, used,
                                budget, given_price + spent)
            if filled:
                stand_ins.append((filled[0], item))
                types.add(self.types[filled[0]])
        added = kept + [r for r, _ in stand_ins]
        if not added:
            return None
        replaced = {r: item for r, item in stand_ins}
        order = list(given_rows) + added
        vectors = np.stack([self.vectors[r] for r in order])
        items = [self._item(r, vectors, i, given=i < len(given_rows), replaces=replaced.get(r))
                 for i, r in enumerate(order)]
        return CompletedOutfit(items, round(outfit_score(vectors), 4), tuple(sorted(self.slots[order])), STYLIST,
                               look_id), added

    def _guess_slot(self, embedding: np.ndarray, k: int = 10) -> tuple[str, str]:
        """A photo's slot and type: the majority among its most similar catalog items."""
        if self._unit_embeddings is None:
            self._unit_embeddings = normalize_rows(np.asarray(self.state.embeddings(), np.float32))
        similarity = self._unit_embeddings @ (embedding / max(np.linalg.norm(embedding), 1e-12))
        rows = np.argsort(-similarity)[:k]
        return Counter(self.slots[rows]).most_common(1)[0][0], Counter(self.types[rows]).most_common(1)[0][0]

    def _allowed(self, filters: Filters | None, given_rows: np.ndarray) -> np.ndarray:
        allowed = self.state.mask(filters)
        allowed = np.ones(self.state.rows, bool) if allowed is None else allowed.copy()
        allowed[given_rows] = False
        has_gender = filters is not None and any(k.lower() == "gender" for k in filters.where)
        genders = {g for g in self.genders[given_rows] if g not in ("nan", "None")} if len(given_rows) else set()
        if not has_gender and genders:
            allowed &= np.isin(self.genders, list(genders | {"Unisex", "nan", "None"}))
        return allowed

    def _templates_for(self, given_slots: list[str]) -> list[tuple[str, ...]]:
        """Stylists' slot combinations that contain the given slots, most frequent first; else the
        most frequent combinations extended by the given slots."""
        need = Counter(given_slots)
        holding = [self.templates_holding.get((slot, count), set()) for slot, count in need.items()]
        fitting = [self.templates[i][0] for i in sorted(set.intersection(*holding))] if holding else []
        if fitting:
            return fitting
        extended = {}
        for held in self.template_counts:
            extended.setdefault(tuple(sorted((held | need).elements())), None)
        return list(extended)

    def _fill(self, missing, given_vectors, given_types, allowed, used, budget, given_price):
        """The most compatible products for the missing slots, as a whole: a beam search over the slots, garments
        first, then shoes, bags and the rest, that keeps the ``BEAM`` best partial outfits by their mean pairwise
        compatibility (less 0.5 per product already in an earlier outfit); None if a slot cannot be filled."""
        order = sorted(missing, key=lambda slot: self.fill_order.get(slot, (9, 1_000)))
        given = np.asarray(given_vectors)
        start = _Partial((), frozenset(given_types), 0.0, given.sum(axis=0), _pair_sum(given), len(given), 0.0)
        beams = [start]
        cheapest = [self._cheapest(slot, allowed) if budget is not None else 0.0 for slot in order]
        for position, slot in enumerate(order):
            rows = self.slot_rows.get(slot, np.empty(0, np.int64))
            rows = rows[allowed[rows]]
            rest = sum(cheapest[position + 1 :])
            grown = []
            for beam in beams:
                candidates = rows[~np.isin(self.types[rows], list(beam.types))]
                if beam.rows:
                    candidates = candidates[~np.isin(candidates, beam.rows)]
                if budget is not None:
                    candidates = candidates[self.prices[candidates] <= budget - given_price - beam.spent - rest]
                if not len(candidates):
                    continue
                gains = self.vectors[candidates] @ beam.vector_sum - 0.5 * used[candidates]
                for pick in candidates[np.argsort(-gains, kind="stable")[:BEAM]]:
                    grown.append(beam.plus(int(pick), self.vectors[pick], self.types[pick],
                                           0.0 if budget is None else float(self.prices[pick]), 0.5 * float(used[pick])))
            if not grown:
                return None
            beams = sorted(grown, key=lambda b: -b.score)[:BEAM]
        return list(beams[0].rows)

    def _cheapest(self, slot: str, allowed: np.ndarray) -> float:
        rows = self.slot_rows.get(slot, np.empty(0, np.int64))
        prices = self.prices[rows[allowed[rows]]]
        prices = prices[~np.isnan(prices)]
        return float(prices.min()) if len(prices) else np.inf


BEAM = 4  # partial outfits kept at each slot, and candidates tried for each
TEMPLATES_TRIED = 8  # per outfit asked for: the stylists' most frequent slot combinations that fit
GARMENT_ORDER = ({"tops", "knitwear", "dresses", "jumpsuits", "trousers", "shorts", "skirts", "swimwear"},
                 {"outerwear"}, {"shoes"}, {"bags"})  # filled in this order; accessories last


def _garment_rank(types: np.ndarray) -> int:
    """Where a slot's products come in the filling order: garments, outerwear, shoes, bags, then the rest."""
    kinds = Counter(coarse_types(types)).most_common(1)
    kind = kinds[0][0] if kinds else ""
    return next((rank for rank, group in enumerate(GARMENT_ORDER) if kind in group), len(GARMENT_ORDER))


def _pair_sum(vectors: np.ndarray) -> float:
    """The sum of dot products over the pairs of rows."""
    if len(vectors) < 2:
        return 0.0
    total = vectors.sum(axis=0)
    return float((total @ total - np.einsum("ij,ij->", vectors, vectors)) / 2)


@dataclass(frozen=True)
class _Partial:
    """A partial outfit in the beam: the rows added, the types it holds, and what its score is computed from."""

    rows: tuple[int, ...]
    types: frozenset
    spent: float
    vector_sum: np.ndarray
    pairs: float  # sum of pairwise compatibilities over every item, given ones included
    count: int
    penalty: float

    @property
    def score(self) -> float:
        return self.pairs / max(self.count * (self.count - 1) / 2, 1) - self.penalty

    def plus(self, row: int, vector: np.ndarray, kind: str, price: float, penalty: float) -> _Partial:
        return _Partial(self.rows + (row,), self.types | {kind}, self.spent + price, self.vector_sum + vector,
                        self.pairs + float(vector @ self.vector_sum), self.count + 1, self.penalty + penalty)


def _multiset_minus(template: tuple[str, ...], given: list[str]) -> list[str]:
    """The slots of ``template`` that ``given`` does not fill (each given slot fills one)."""
    missing = list(template)
    for slot in given:
        if slot in missing:
            missing.remove(slot)
    return missing

