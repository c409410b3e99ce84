"""Metadata filters on items: ``category=Shirts``, a price range, a size, any attribute, and availability.

Values match case-insensitively; several values for one column mean "any of them", several
columns mean "all of them". A filter on a column that does not exist is an error, not an empty result.
Items out of stock (``in_stock`` false), and sizes sold out, never match unless ``include_unavailable``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..catalog import ATTRIBUTE_PREFIX, is_in_stock, split_sizes
from ..errors import DressUpError

FILE_COLUMNS = ("image", "image_hash")  # where an item's photo is kept: never a filter (it would tell paths apart)
HIDDEN_COLUMNS = (*FILE_COLUMNS, "sizes", "price", "in_stock", "sold_out_sizes")  # not offered as filter columns


class FilterError(DressUpError, ValueError):
    """A filter that cannot be applied: unknown column or malformed expression."""


@dataclass(frozen=True)
class Filters:
    """Which items may be returned.

    >>> Filters(where={"category": "Shirts", "colour": ["Blue", "Navy Blue"]}, max_price=50).max_price
    50
    """

    where: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    exclude: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    min_price: float | None = None
    max_price: float | None = None
    size: str | None = None
    include_unavailable: bool = False  # out-of-stock items and sold-out sizes match too
    at_least: Mapping[str, float] = field(default_factory=dict)  # numeric columns: ``margin>=0.4``
    at_most: Mapping[str, float] = field(default_factory=dict)  # ``margin<=0.1``
    hidden: tuple[Filters, ...] = ()  # items matching all of any one of these never match (business rules' hide)

    @classmethod
    def parse(cls, expressions: Sequence[str] = (), **kwargs) -> Filters:
        """Build filters from ``column=value``, ``column!=value``, ``column>=number`` and ``column<=number`` expressions
        (repeatable).

        >>> Filters.parse(["brand=Mango", "margin>=0.4"]).at_least
        {'margin': 0.4}
        """
        where: dict[str, list[str]] = {}
        exclude: dict[str, list[str]] = {}
        bounds: dict[str, dict[str, float]] = {">=": {}, "<=": {}}
        for expression in expressions:
            operator = next((o for o in (">=", "<=", "!=", "=") if o in expression), None)
            column, _, value = expression.partition(operator or "=")
            if operator is None or not column.strip():
                raise FilterError(f"malformed filter {expression!r}: use column=value, column!=value, column>=number "
                                  "or column<=number")
            if operator in bounds:
                bounds[operator][column.strip()] = _number(value, expression)
            else:
                (exclude if operator == "!=" else where).setdefault(column.strip(), []).append(value.strip())
        return cls(where=where, exclude=exclude, at_least=bounds[">="], at_most=bounds["<="], **kwargs)

    @property
    def columns(self) -> list[str]:
        """Every column these filters name, those of their hidden sets included."""
        named = [*self.where, *self.exclude, *self.at_least, *self.at_most]
        return named + [c for hidden in self.hidden for c in hidden.columns]

    @classmethod
    def from_fields(cls, where: Sequence[str] = (), *, category: str | Sequence[str] | None = None,
                    gender: str | Sequence[str] | None = None, colour: str | Sequence[str] | None = None,
                    min_price: float | None = None, max_price: float | None = None, size: str | None = None,
                    include_unavailable: bool = False) -> Filters:
        """Filters as the command line and the REST API take them: ``column=value`` expressions, then any-of values of
        the main fields, a price range and a size.

        >>> Filters.from_fields(["usage!=Sports"], category=["Shirts", "Tshirts"], max_price=50).where
        {'category': ['Shirts', 'Tshirts']}
        """
        if min_price is not None and max_price is not None and min_price > max_price:
            raise FilterError(f"the lowest price ({min_price:g}) is above the highest ({max_price:g})")
        parsed = cls.parse(list(where or []))
        chosen = {k: list(v) for k, v in parsed.where.items()}
        for name, values in (("category", category), ("gender", gender), ("colour", colour)):
            if values:
                chosen.setdefault(name, []).extend([values] if isinstance(values, str) else values)
        return cls(where=chosen, exclude=parsed.exclude, min_price=min_price, max_price=max_price, size=size or None,
                   include_unavailable=include_unavailable)

    def is_empty(self) -> bool:
        return (not (self.where or self.exclude or self.size or self.at_least or self.at_most or self.hidden)
                and self.min_price is None and self.max_price is None)


def _number(text: str, expression: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FilterError(f"malformed filter {expression!r}: {text.strip()!r} is not a number") from None
    if not np.isfinite(value):
        raise FilterError(f"malformed filter {expression!r}: the bound must be a finite number")
    return value


class FilterIndex:
    """Evaluates `Filters` on an item table (a DataFrame or an Arrow table) quickly: each column is factorised once,
    on first use, and kept as codes, so a filter costs a few passes over integer arrays.

    ``mask(filters, known)`` takes, for a table that is one part of a bigger catalog (the live rows of a store beside
    its base table), every column of the whole catalog: a column only the other part has matches nothing here, and the
    whole catalog's checks (a price filter on a catalog without prices) are the caller's.
    """

    def __init__(self, items):
        self.items = items
        self.columns = list(items.columns) if isinstance(items, pd.DataFrame) else list(items.column_names)
        self.rows = len(items) if isinstance(items, pd.DataFrame) else items.num_rows
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._prices: np.ndarray | None = None
        self._unavailable: np.ndarray | None = None

    def series(self, name: str) -> pd.Series:
        """One column's values (not kept: a big table's column is read when asked)."""
        if isinstance(self.items, pd.DataFrame):
            return self.items[name]
        return self.items.column(name).to_pandas()

    def column(self, name: str, known: Sequence[str] | None = None) -> str:
        """The table column a filter name refers to (item field or raw attribute)."""
        return column_named(name, self.columns if known is None else known)

    def mask(self, filters: Filters | None, known: Sequence[str] | None = None) -> np.ndarray | None:
        """A boolean mask of allowed rows, or None when every row is allowed."""
        filters = filters or Filters()
        self._known, self._whole = (self.columns if known is None else known), known is None
        unavailable = None if filters.include_unavailable else self.unavailable()
        if filters.is_empty():
            return None if unavailable is None else ~unavailable
        allowed = np.ones(self.rows, dtype=bool) if unavailable is None else ~unavailable
        for name, values in filters.where.items():
            allowed &= self._matches(name, values)
        for name, values in filters.exclude.items():
            allowed &= ~self._matches(name, values)
        for name, low in filters.at_least.items():
            with np.errstate(invalid="ignore"):
                allowed &= self._numbers(name) >= low  # NaN (no number) never matches
        for name, high in filters.at_most.items():
            with np.errstate(invalid="ignore"):
                allowed &= self._numbers(name) <= high
        for hidden in filters.hidden:
            matching = self._all_of(hidden)
            if matching is not None:
                allowed &= ~matching
        if filters.min_price is not None or filters.max_price is not None:
            allowed &= self._priced(filters.min_price, filters.max_price)
        if filters.size:
            wanted = {filters.size.strip().lower()}
            allowed &= self._sized("sizes", wanted, check=True)
            if not filters.include_unavailable and "sold_out_sizes" in self.columns:
                allowed &= ~self._sized("sold_out_sizes", wanted)
        return allowed

    def _all_of(self, filters: Filters) -> np.ndarray | None:
        """The rows matching every condition of ``filters``, in stock or not (None: filters with no condition)."""
        conditions = Filters(where=filters.where, exclude=filters.exclude, at_least=filters.at_least,
                             at_most=filters.at_most, include_unavailable=True)
        return self.mask(conditions, known=None if self._whole else self._known)  # the same catalog as the outer call

    def _numbers(self, name: str) -> np.ndarray:
        """A column's values as numbers (NaN where a value is missing or not a number), kept once read."""
        column = column_named(name, self._known)
        if column in FILE_COLUMNS:
            raise FilterError(f"{name!r} cannot be filtered on: it is where the photo is kept, not an item field")
        if column not in self.columns:
            return np.full(self.rows, np.nan)
        if ("numbers", column) not in self._raw:
            codes, uniques = self._raw_codes(column)
            values = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype=float)
            self._raw[("numbers", column)] = (np.append(values, np.nan)[codes], values)
        return self._raw[("numbers", column)][0]

    def unavailable(self) -> np.ndarray | None:
        """The rows out of stock, or None when none is."""
        if self._unavailable is None:
            if "in_stock" in self.columns:
                codes, uniques = self._raw_codes("in_stock")
                self._unavailable = np.append(~np.array([is_in_stock(u) for u in uniques], bool), False)[codes]
            else:
                self._unavailable = np.zeros(self.rows, bool)
        return self._unavailable if self._unavailable.any() else None

    def prices(self) -> np.ndarray:
        """Every row's price (NaN: none)."""
        if self._prices is None:
            if "price" in self.columns:
                self._prices = pd.to_numeric(self.series("price"), errors="coerce").to_numpy(dtype=float)
            else:
                self._prices = np.full(self.rows, np.nan)
        return self._prices

    def has_prices(self) -> bool:
        return bool((~np.isnan(self.prices())).any())

    def has_sizes(self) -> bool:
        return "sizes" in self.columns and any(split_sizes(value) for value in self._raw_codes("sizes")[1])

    def _priced(self, low: float | None, high: float | None) -> np.ndarray:
        price = self.prices()
        if np.isnan(price).all() and self._whole:  # a part of a catalog may lack prices
            raise FilterError("no item of this catalog has a price, so a price filter would match nothing; "
                              "add a price column to the catalog")
        with np.errstate(invalid="ignore"):
            allowed = ~np.isnan(price)
            if low is not None:
                allowed &= price >= low
            if high is not None:
                allowed &= price <= high
        return allowed

    def _matches(self, name: str, values: str | Sequence[str]) -> np.ndarray:
        if isinstance(values, (str, int, float)):
            values = [values]
        column = column_named(name, self._known)
        if column in FILE_COLUMNS:
            raise FilterError(f"{name!r} cannot be filtered on: it is where the photo is kept, not an item field")
        if column not in self.columns:  # a column of the rest of the catalog, not of this part
            return np.zeros(self.rows, bool)
        wanted = {_normal(v) for v in values}
        if column == "sizes":  # an item matches a size it is sold in, not only its whole size list
            return self._sized("sizes", wanted, check=True)
        codes, uniques = self.codes(column)
        hits = np.fromiter((u in wanted for u in uniques), bool, len(uniques))
        return np.append(hits, False)[codes]  # code -1 (missing) never matches

    def _raw_codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """The column as codes into its distinct raw values (-1: missing)."""
        if column not in self._raw:
            encoded = _dictionary_codes(self.items, column)
            if encoded is not None:
                self._raw[column] = encoded
                return encoded
            codes, uniques = pd.factorize(self.series(column), use_na_sentinel=True)
            self._raw[column] = (codes.astype(np.int32), np.asarray(uniques, dtype=object))
        return self._raw[column]

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """The column's values as codes into its distinct normalised values (-1: missing)."""
        if column not in self._codes:
            raw, uniques = self._raw_codes(column)
            normal = [_normal(u) for u in uniques]  # a few distinct values, not a pass over every row
            names = list(dict.fromkeys(v for v in normal if v is not None))
            position = {value: code for code, value in enumerate(names)}
            mapping = np.array([position[v] if v is not None else -1 for v in normal] + [-1], np.int32)
            self._codes[column] = (mapping[raw], np.asarray(names, dtype=object))
        return self._codes[column]

    def _sized(self, column: str, wanted: set[str], check: bool = False) -> np.ndarray:
        """Rows whose size list (``S|M|L``) holds one of ``wanted``."""
        if column not in self.columns:
            listed = np.zeros(0, object)
            codes = np.full(self.rows, -1, np.int32)
        else:
            codes, listed = self._raw_codes(column)
        tokens = [{s.lower() for s in split_sizes(value)} for value in listed]
        if check and self._whole and not any(tokens):
            raise FilterError("no item of this catalog lists its sizes, so a size filter would match nothing; "
                              "add a sizes column to the catalog")
        return np.append(np.array([bool(t & wanted) for t in tokens], bool), False)[codes]


def column_named(name: str, columns: Sequence[str]) -> str:
    """The column of ``columns`` a filter name refers to: an item field or a raw attribute, in any case."""
    for candidate in (name, ATTRIBUTE_PREFIX + name):
        if candidate in columns:
            return candidate
    lowered = {c.lower(): c for c in columns}
    for candidate in (name.lower(), (ATTRIBUTE_PREFIX + name).lower()):
        if candidate in lowered:
            return lowered[candidate]
    fields = [c for c in columns if not c.startswith(ATTRIBUTE_PREFIX) and c not in HIDDEN_COLUMNS]
    attributes = [c[len(ATTRIBUTE_PREFIX):] for c in columns if c.startswith(ATTRIBUTE_PREFIX)]
    named = dict.fromkeys(fields + attributes)  # an attribute named like a field (FPI's "gender") is listed once
    raise FilterError(f"unknown filter column {name!r}; filter on {', '.join(named)}")


def _normal(value) -> str | None:
    """The form values are compared in: lower-case text, integral numbers without '.0'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def _dictionary_codes(items, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A dictionary-encoded Arrow column's own codes and values (no pass over the rows' text), or None."""
    if isinstance(items, pd.DataFrame):
        return None
    values = items.column(column)
    if not pa.types.is_dictionary(values.type) or values.num_chunks != 1:
        return None
    chunk = values.chunk(0)
    codes = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, np.asarray(chunk.dictionary.to_numpy(zero_copy_only=False), dtype=object)
