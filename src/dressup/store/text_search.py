"""Text search over a store: keywords (BM25), the text tower's vector in the image space, or both fused.

``hybrid`` fuses the two rankings by reciprocal rank (RRF); ``keywords`` ranks by BM25 alone; ``visual`` by the
image embeddings alone, reached through the text tower, which finds products whose text is poor. Words that are
constraints become filters where the catalog has the field: a price ("under 50", "between 20 and 40"), a gender
("men", "women"), a size ("size M"). The catalog's colours and types named in the text are preferred: the items that
have them come first, as optional filters do in shops' search engines. With a photo they become filters ("like this,
but in red").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..encoders.text_tower import words
from ..errors import DressUpError
from .filters import Filters
from .keywords import terms

MODES = ("hybrid", "keywords", "visual")
CANDIDATES = 200  # from each ranking, before fusion
RRF_K = 60
MAX_QUERY_CHARACTERS = 1_000

GENDER_WORDS = {"men": "men", "mens": "men", "man": "men", "male": "men", "menswear": "men",
                "women": "women", "womens": "women", "woman": "women", "female": "women", "ladies": "women",
                "ladieswear": "women", "boys": "boys", "boy": "boys", "girls": "girls", "girl": "girls",
                "unisex": "unisex", "kids": "kids", "children": "kids", "baby": "kids"}
AMOUNT = r"[$€£]?\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)"  # 1,500 / 1,500.50 / 49.90 / 49,90
PRICE_BELOW = re.compile(r"(?:\b(?:under|below|less than|cheaper than|up to|max(?:imum)?)|<)\s*" + AMOUNT)
PRICE_ABOVE = re.compile(r"(?:\b(?:over|above|more than|from|min(?:imum)?)|>)\s*" + AMOUNT)
PRICE_BETWEEN = re.compile(r"\bbetween\s*" + AMOUNT + r"\s*(?:and|-|to)\s*" + AMOUNT)
SIZE = re.compile(r"\bsize\s+([a-z0-9]{1,4})\b")
FACETS = ("colour", "category")  # named in a text: preferred (filters, with a photo)
MAX_NAMING_TERMS = 6  # a longer text is a description, whose colour and type words are not all the product's
VAGUE_VALUES = {"other", "unknown", "undefin", "none", "n a", "misc"}  # values no shopper means by name
MODIFIER_WORDS = {"like", "this", "same", "similar", "but", "in", "with", "one", "please", "a", "an", "the"}


class SearchError(DressUpError, ValueError):
    """A text query that cannot be searched: empty, without a searchable word, or a mode the store lacks."""


@dataclass(frozen=True)
class ParsedQuery:
    """A shopper's text split into the words searched and the constraints turned into filters."""

    text: str
    filters: Filters
    understood: dict = field(default_factory=dict)  # what became a filter: {"max_price": 50, "gender": "Men"...}
    preferred: dict = field(default_factory=dict)   # colours and types named without a photo: ranked first


def checked_text(text: str | None, image: bool = False) -> str:
    text = (text or "").strip()
    if not text and not image:
        raise SearchError("empty query: type some words (for example 'black trousers'), or give a photo")
    if len(text) > MAX_QUERY_CHARACTERS:
        raise SearchError(f"query of {len(text):,} characters: at most {MAX_QUERY_CHARACTERS:,}")
    return text


def parse_query(text: str, filters: Filters, state, *, with_image: bool = False) -> ParsedQuery:
    """Turn price, gender and size words (and, with a photo, colour and type words) into filters where the catalog
    has those fields; the rest of the text is searched."""
    lowered, understood = text.lower(), {}
    where = {name: list(values) if not isinstance(values, str) else [values] for name, values in filters.where.items()}
    min_price, max_price, size = filters.min_price, filters.max_price, filters.size
    if state.lists_prices():
        if match := PRICE_BETWEEN.search(lowered):
            low, high = sorted(_amount(v) for v in match.groups())
            min_price, max_price = _tighter(min_price, low, max), _tighter(max_price, high, min)
            lowered = lowered.replace(match.group(0), " ")
        if match := PRICE_BELOW.search(lowered):
            max_price = _tighter(max_price, _amount(match.group(1)), min)
            lowered = lowered.replace(match.group(0), " ")
        if match := PRICE_ABOVE.search(lowered):
            min_price = _tighter(min_price, _amount(match.group(1)), max)
            lowered = lowered.replace(match.group(0), " ")
        for key, value in (("min_price", min_price), ("max_price", max_price)):
            if value is not None and value != getattr(filters, key):
                understood[key] = value
    if (match := SIZE.search(lowered)) and state.lists_sizes():
        size = match.group(1).upper()
        understood["size"] = size
        lowered = lowered.replace(match.group(0), " ")
    genders = _genders(state)
    for word in words(lowered):
        chosen = genders.get(GENDER_WORDS.get(word, ""))
        if chosen and "gender" not in where:
            where["gender"] = chosen
            understood["gender"] = chosen[0] if len(chosen) == 1 else chosen
            lowered = re.sub(rf"\b{word}\b", " ", lowered)
    preferred = {}
    if with_image:
        lowered = _facet_filters(lowered, state, where, understood)
    else:
        preferred = {c: v for c, v in named_facets(lowered, state).items() if c not in where}
    searched = " ".join(w for w in words(lowered) if not (with_image and w in MODIFIER_WORDS))
    parsed = replace(filters, where=where, min_price=min_price, max_price=max_price, size=size)
    return ParsedQuery(searched, parsed, understood, preferred)


def named_facets(text: str, state) -> dict[str, str]:
    """The catalog's colour and category values that the text names, matched on stemmed words, longest first
    ("dark blue dresses" -> {"colour": "Dark Blue", "category": "Dress"}). A column is left out when the text names
    two of its values, and the whole text when it is longer than a shopper's query (a description names many)."""
    said, named = terms(_joined(text)), {}
    if len(said) > MAX_NAMING_TERMS:
        return {}
    for column in FACETS:
        left, found = list(said), []
        for value, value_terms in _facet_terms(state, column):
            if (at := _position(left, value_terms)) is not None:
                found.append(value)
                left[at : at + len(value_terms)] = [""]  # "dark blue" is not also "blue"
        if len(found) == 1:
            named[column] = found[0]
    return named


def _joined(text: str) -> str:
    """Hyphenated words as one ("T-shirt" and "Tshirts" name the same type)."""
    return re.sub(r"(?<=\w)-(?=\w)", "", text)


def _position(said: list[str], wanted: tuple[str, ...]) -> int | None:
    for i in range(len(said) - len(wanted) + 1):
        if tuple(said[i : i + len(wanted)]) == wanted:
            return i
    return None


def _facet_terms(state, column: str) -> list[tuple[str, tuple[str, ...]]]:
    """A facet's values with their stemmed words, most words first (made once per state)."""
    def make():
        pairs = [(value, tuple(terms(_joined(value)))) for value in _values(state, column).values()]
        pairs = [(v, t) for v, t in pairs if t and " ".join(t) not in VAGUE_VALUES]
        return sorted(pairs, key=lambda pair: (-len(pair[1]), pair[0]))
    return state.derived(("facet terms", column), make)


def _facet_filters(lowered: str, state, where: dict, understood: dict) -> str:
    """Colour and type values of the catalog named in the text become filters, and leave the searched text."""
    for column, value in named_facets(lowered, state).items():
        if column in where:
            continue
        where[column], understood[column] = [value], value
        for word in words(value):
            lowered = re.sub(rf"\b{re.escape(word)}\w*", " ", lowered)
    return lowered


def _values(state, column: str) -> dict[str, str]:
    """The catalog's values of a column, by their lower-case form (made once per state)."""
    def make():
        if column not in state.columns:
            return {}
        values = {str(v).strip() for v in state.column(column).tolist() if isinstance(v, str) and v.strip()}
        return {v.lower(): v for v in values}
    return state.derived(("values", column), make)


def _genders(state) -> dict[str, list[str]]:
    """The catalog's gender values by the gender they name ("Men", "Menswear" -> men; "Ladieswear" -> women)."""
    def make():
        found: dict[str, list[str]] = {}
        for value in _values(state, "gender").values():
            named = {GENDER_WORDS[w] for w in words(value) if w in GENDER_WORDS}
            if len(named) == 1:
                found.setdefault(named.pop(), []).append(value)
        return found
    return state.derived(("genders",), make)


def _amount(text: str) -> float:
    """A price as typed: "1,500" and "1,500.50" have thousands separators, "49,90" a decimal comma.

    >>> _amount("1,500"), _amount("49,90"), _amount("1,500.50"), _amount("30")
    (1500.0, 49.9, 1500.5, 30.0)
    """
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


def _tighter(current, new, pick):
    return new if current is None else pick(current, new)


def searchable(text: str) -> bool:
    """Whether the text holds a word the keyword index would search (not only stop words or symbols)."""
    return bool(terms(text))


def keyword_weight(text: str) -> float:
    """The keyword ranking's weight in the fusion (the text tower's is 1): a long query (a product's description)
    is told best by its words. Chosen on Fashion Product Images `val` (title -> own product R@10 0.72 -> 0.95 over
    equal weights, "<colour> <type>" P@10 unchanged at 0.98), never on H&M or `test`.

    >>> keyword_weight("black trousers"), keyword_weight("slim jeans in washed stretch denim with a high waist")
    (1.0, 3.5)
    """
    return max(1.0, len(terms(text)) / 2)


def fuse_rankings(rankings: list[np.ndarray], weights: list[float], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion: each row scores sum(weight / (RRF_K + rank)) over the rankings that hold it."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, row in enumerate(ranking.tolist()):
            scores[row] = scores.get(row, 0.0) + weight / (RRF_K + rank + 1)
    best = sorted(scores.items(), key=lambda pair: -pair[1])[:k]
    return np.array([r for r, _ in best], np.int64), np.array([s for _, s in best], np.float32)


def preferred_first(first_rows: np.ndarray, first_scores: np.ndarray, rows: np.ndarray, scores: np.ndarray,
                    k: int) -> tuple[np.ndarray, np.ndarray]:
    """The preferred items' ranking, then the others' (each once): a preferred item scores 1 more.

    >>> preferred_first(np.array([4, 2]), np.array([.03, .02]), np.array([7, 4, 9]), np.array([.05, .04, .01]), 3)
    (array([4, 2, 7]), array([1.03, 1.02, 0.05], dtype=float32))
    """
    rest = ~np.isin(rows, first_rows)
    rows = np.concatenate([first_rows, rows[rest]])[:k]
    scores = np.concatenate([first_scores + 1.0, scores[rest]])[:k]
    return rows, scores.astype(np.float32)


def top_keyword_rows(scores: np.ndarray, allowed: np.ndarray | None, count: int) -> np.ndarray:
    """Rows with a keyword match, best first (at most ``count``), among the allowed ones."""
    if allowed is not None:
        scores = np.where(allowed, scores, 0.0)
    matched = np.flatnonzero(scores > 0)
    if len(matched) > count:
        matched = matched[np.argpartition(-scores[matched], count - 1)[:count]]
    return matched[np.argsort(-scores[matched], kind="stable")]
