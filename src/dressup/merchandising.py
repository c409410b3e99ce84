"""Business rules: boost, bury, pin and hide products, per surface, applied after ranking.

A store's rules are one JSON object (its ``rules`` setting, set with ``dressup rules set`` or ``PUT /admin/rules``):

>>> rules = Rules.from_json({"rules": [
...     {"action": "boost", "when": ["brand=Mango"], "positions": 3, "surfaces": ["feed", "search"]},
...     {"action": "bury", "when": ["margin<=0.1"], "positions": 5},
...     {"action": "pin", "item": "0706016001", "slot": 1, "surfaces": ["feed"]},
...     {"action": "hide", "when": ["category=Socks"]}]})
>>> [rule.action for rule in rules.on("similar").rules]
['bury', 'hide']

What each does, exactly:

- ``hide``: items matching every condition of ``when`` are never returned on the rule's surfaces. It is a filter
  of the ranking itself, so a list still holds k items when the catalog has them.
- ``boost`` / ``bury``: an item matching ``when`` moves ``positions`` places up (down) the ranked list; several
  rules add up. Exactly: each item is sorted by its rank plus its moves, and on a tie a boosted item goes before the
  one whose place it takes, a buried one after (so one boosted item moves exactly n places). The ranker is asked for
  k plus the largest move, so an item just beyond the list can move in and buried ones can leave it.
- ``pin``: ``item`` is put at ``slot`` (1 = first) when it exists, passes the request's filters and is not hidden;
  it leaves the place it had. Pins are placed in slot order after the moves; a slot past the list's end appends.

``when`` takes the filter expressions of ``--where``: ``column=value``, ``column!=value``, ``column>=number``,
``column<=number`` over item fields and raw attributes (``new=yes``, ``margin>=0.4``); all must hold. Surfaces are
``similar`` (product pages and photos), ``feed``, ``search`` and ``outfits``; a rule without ``surfaces`` applies on
all of them (a pin: on all but outfits). On outfits, hide keeps items out of completions and boost/bury reorder the
outfits by their proposed items; a pin has no slot there and is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TypeVar

import numpy as np

from .errors import DressUpError
from .store import Filters
from .store.filters import FilterError

SURFACES = ("similar", "feed", "search", "outfits")
ACTIONS = ("boost", "bury", "pin", "hide")
MAX_POSITIONS = 100  # the largest move and slot: the ranker is asked for this many more items at most
MAX_RULES = 200

T = TypeVar("T")


class RuleError(DressUpError, ValueError):
    """Rules that cannot be applied: an unknown action, surface or field, a malformed condition."""


@dataclass(frozen=True)
class Rule:
    """One business rule (see the module's documentation)."""

    action: str
    when: tuple[str, ...] = ()
    positions: int = 0
    item: str | None = None
    slot: int | None = None
    surfaces: tuple[str, ...] = SURFACES
    name: str = ""  # shown in explanations ("promoted: summer sale"); by default the action and its condition

    @cached_property  # read on every request that hides items: parsed once
    def condition(self) -> Filters:
        return Filters.parse(self.when, include_unavailable=True)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.action == "pin":
            return f"pinned to slot {self.slot}"
        return f"{self.action} {' and '.join(self.when)}"

    def to_json(self) -> dict:
        data = {"action": self.action, "when": list(self.when), "positions": self.positions, "item": self.item,
                "slot": self.slot, "surfaces": list(self.surfaces), "name": self.name}
        return {key: value for key, value in data.items() if value not in (None, "", 0, [])}


_RULE_KEYS = {"action", "when", "positions", "item", "slot", "surfaces", "name"}


def parse_rule(data, number: int) -> Rule:
    """One rule from its JSON object; ``number`` (from 1) names it in errors."""
    where = f"rule {number}"
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: a rule is a JSON object, not {type(data).__name__}")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; a rule takes {', '.join(sorted(_RULE_KEYS))}")
    action = data.get("action")
    if action not in ACTIONS:
        raise RuleError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
    when = data.get("when", [])
    if isinstance(when, str):
        when = [when]
    if not isinstance(when, list) or not all(isinstance(w, str) and w.strip() for w in when):
        raise RuleError(f"{where}: 'when' is a list of conditions like \"brand=Mango\" or \"margin>=0.4\"")
    default = [s for s in SURFACES if s != "outfits" or action != "pin"]  # outfits have no slots to pin to
    surfaces = parse_surfaces(data.get("surfaces", default), where, RuleError)
    name = data.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise RuleError(f"{where}: 'name' is a text of up to 200 characters")
    rule = Rule(action, tuple(w.strip() for w in when), _count(data, "positions", where), data.get("item"),
                _count(data, "slot", where) or None, surfaces, name)
    _check_action(rule, where)
    try:
        Filters.parse(rule.when)
    except FilterError as error:
        raise RuleError(f"{where}: {error}") from None
    return rule


def parse_surfaces(value, where: str, error: type[DressUpError]) -> tuple[str, ...]:
    """Surfaces from JSON (one name or a list of them), each once; ``error`` says what is wrong with them."""
    surfaces = [value] if isinstance(value, str) else value
    if not isinstance(surfaces, list) or not surfaces or any(s not in SURFACES for s in surfaces):
        raise error(f"{where}: surfaces must be some of {', '.join(SURFACES)}, not {value!r}")
    return tuple(dict.fromkeys(surfaces))


def _count(data: Mapping, key: str, where: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POSITIONS:
        raise RuleError(f"{where}: {key!r} is a whole number from 1 to {MAX_POSITIONS}, not {value!r}")
    return value


def _check_action(rule: Rule, where: str) -> None:
    if rule.action == "pin":
        if not isinstance(rule.item, str) or not rule.item or not rule.slot:
            raise RuleError(f"{where}: a pin needs an 'item' id and a 'slot' (1 = first)")
        if rule.when or rule.positions:
            raise RuleError(f"{where}: a pin takes an 'item' and a 'slot', not 'when' or 'positions'")
        if "outfits" in rule.surfaces:
            raise RuleError(f"{where}: an outfit has no slots to pin to; give the pin other surfaces")
        return
    if rule.item is not None or rule.slot:
        raise RuleError(f"{where}: only a pin takes 'item' and 'slot'")
    if not rule.when:
        raise RuleError(f"{where}: {rule.action} needs a condition in 'when' (\"category=Socks\")")
    if rule.action in ("boost", "bury") and not rule.positions:
        raise RuleError(f"{where}: {rule.action} needs 'positions', the places to move (1-{MAX_POSITIONS})")
    if rule.action == "hide" and rule.positions:
        raise RuleError(f"{where}: hide takes no 'positions'")


@dataclass(frozen=True)
class Rules:
    """A store's business rules; ``rules.on(surface)`` those of one surface, applied with `apply`."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_json(cls, data) -> Rules:
        """Rules from their JSON object ``{"rules": [...]}`` (or the list alone); a bad rule is a `RuleError`."""
        if isinstance(data, Mapping):
            unknown = set(data) - {"rules"}
            if unknown:
                raise RuleError(f"unknown key(s) {', '.join(sorted(unknown))}: the rules are {{\"rules\": [...]}}")
            data = data.get("rules", [])
        if not isinstance(data, list):
            raise RuleError("the rules are a JSON object {\"rules\": [...]} holding a list of rules")
        if len(data) > MAX_RULES:
            raise RuleError(f"{len(data)} rules: at most {MAX_RULES}")
        return cls(tuple(parse_rule(rule, number) for number, rule in enumerate(data, 1)))

    def to_json(self) -> dict:
        return {"rules": [rule.to_json() for rule in self.rules]}

    def __add__(self, other: Rules) -> Rules:
        return Rules(self.rules + other.rules)

    def on(self, surface: str) -> Rules:
        return Rules(tuple(rule for rule in self.rules if surface in rule.surfaces))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def check(self, state) -> None:
        """Refuse rules that name a column this catalog lacks (before they are stored)."""
        for number, rule in enumerate(self.rules, 1):
            try:
                if rule.when:
                    _rows_matching(state, rule)
            except FilterError as error:
                raise RuleError(f"rule {number}: {error}") from None

    @property
    def extra(self) -> int:
        """How many more items than k to ask the ranker for: room for boosted items to move in, and for buried ones
        to leave."""
        return max((rule.positions for rule in self.rules if rule.action in ("boost", "bury")), default=0)

    def filters(self, filters: Filters | None) -> Filters | None:
        """The request's filters with the hidden items kept out."""
        hidden = tuple(rule.condition for rule in self.rules if rule.action == "hide")
        if not hidden:
            return filters
        filters = filters or Filters()
        return replace(filters, hidden=filters.hidden + hidden)

    def apply(self, state, ranked: Sequence[T], k: int, filters: Filters | None, make: Callable[[str, int], T],
              id_of: Callable[[T], str] = lambda r: r.id, excluded: Sequence[str] = ()) -> Ranked:
        """The first k of ``ranked`` (best first) after the moves and pins; ``make(id, row)`` builds a pinned item's
        entry when the ranker did not return it; ``excluded``: ids never pinned (a product page's own product).
        The result's ``notes`` say which rule placed or moved an item (the first that matched it)."""
        pins = sorted((rule for rule in self.rules if rule.action == "pin"), key=lambda rule: rule.slot)
        if not pins and not self._moves:
            return Ranked(list(ranked[:k]))
        ids = [id_of(r) for r in ranked]
        notes: dict[str, Rule] = {}
        shift = self._shifts(state, ids, notes)
        listed = [ranked[i] for i in sorted(range(len(ranked)), key=lambda i: _place(i, shift[i]))]
        if pins:
            listed = self._pinned(state, pins, listed, filters, make, id_of, set(excluded), notes)
        chosen = listed[:k]
        kept = {id_of(r) for r in chosen}
        return Ranked(chosen, {i: note for i, note in notes.items() if i in kept})

    def order_outfits(self, state, outfits: Sequence[T], proposed: Callable[[T], Sequence[str]]) -> Ranked:
        """Outfits reordered by the boosts and buries of the items they propose (``proposed(outfit)``: their ids)."""
        if not self._moves:
            return Ranked(list(outfits))
        notes: dict[str, Rule] = {}
        shift = [self._shifts(state, list(proposed(outfit)), notes).sum() for outfit in outfits]
        return Ranked([outfits[i] for i in sorted(range(len(outfits)), key=lambda i: _place(i, shift[i]))], notes)

    @property
    def _moves(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.action in ("boost", "bury")]

    def _shifts(self, state, ids: list[str], notes: dict[str, Rule]) -> np.ndarray:
        """How many places each item moves (negative: up), noting the first rule that moved it."""
        shift = np.zeros(len(ids))
        rows = state.rows_of(ids) if ids else np.zeros(0, int)
        for rule in self._moves:
            hits = _rows_matching(state, rule)[np.maximum(rows, 0)] & (rows >= 0)
            shift[hits] += -rule.positions if rule.action == "boost" else rule.positions
            for i in np.flatnonzero(hits):
                notes.setdefault(ids[i], rule)
        return shift

    def _pinned(self, state, pins: list[Rule], listed, filters, make, id_of, excluded, notes):
        """``listed`` with each usable pin's item at its slot."""
        allowed = state.mask(self.filters(filters))
        placed: dict[str, tuple[Rule, int]] = {}  # item: its first pin (the lowest slot), and its row
        for rule in pins:
            row = int(state.rows_of([rule.item])[0])
            if row < 0 or rule.item in excluded or (allowed is not None and not allowed[row]):
                continue  # gone from the catalog, filtered out or hidden: the slot goes to the ranking
            placed.setdefault(rule.item, (rule, row))
        by_id = {id_of(r): r for r in listed}
        listed = [r for r in listed if id_of(r) not in placed]  # all pinned items leave their places first
        for item, (rule, row) in placed.items():  # then each takes its slot, in slot order
            listed.insert(min(rule.slot - 1, len(listed)), by_id.get(item) or make(item, row))
            notes[item] = rule
        return listed

    def usable(self, state) -> Rules:
        """The rules whose conditions this catalog state can evaluate (a column a later catalog lacks: the rule is
        skipped, and logged once, rather than failing every request)."""
        kept = []
        for rule in self.rules:
            try:
                if rule.when:
                    _rows_matching(state, rule)
                kept.append(rule)
            except FilterError as error:
                logged = state.derived("unusable rules logged", set)
                if rule not in logged:
                    logged.add(rule)
                    logging.getLogger(__name__).error("business rule %r skipped: %s", rule.label, error)
        return self if len(kept) == len(self.rules) else Rules(tuple(kept))


def _place(rank: int, shift: float) -> tuple:
    """Sort key of an item moved by ``shift`` places: a boosted item goes ahead of the one whose place it takes, a
    buried one behind, so that a move of n places is n places."""
    return rank + shift, 0 if shift < 0 else 2 if shift > 0 else 1, rank


class Ranked(list):
    """A ranked list (of matches, recommendations or outfits) with ``notes``: the rule that placed or moved each item
    it names (the business rules' part of the explanations), and ``assigned``: the experiments' variants it was
    served with."""

    def __init__(self, items=(), notes: Mapping[str, Rule] | None = None):
        super().__init__(items)
        self.notes = dict(notes or {})
        self.assigned: list = []


def _rows_matching(state, rule: Rule) -> np.ndarray:
    """The rows a rule's condition holds for, kept with the catalog state."""
    def make():
        mask = state.mask(rule.condition)
        return np.ones(state.rows, bool) if mask is None else mask
    return state.derived(("rule", rule.when), make)


NO_RULES = Rules()
