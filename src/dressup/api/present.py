"""How items, search results, feeds and outfits look in responses."""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote
from weakref import WeakKeyDictionary

from fastapi import Response

from ..catalog import Item
from ..merchandising import Rule
from ..outfits import CompletedOutfit
from ..recommenders import Recommendation
from ..recommenders.scores import SCORES
from ..shop import Generation
from ..store import GarmentMatches, Match, SearchResults
from ..tagging import Tag

# each item's JSON, serialised once per store generation (the hot path of a product page); by id, since rows change
# meaning when the store changes, and dropped with its generation
_ITEM_JSON: WeakKeyDictionary[Generation, dict[str, bytes]] = WeakKeyDictionary()
_FIELDS: WeakKeyDictionary[Generation, dict[tuple[str, str], str]] = WeakKeyDictionary()


def _field(generation: Generation, item_id: str, name: str) -> str:
    """One field of an item (its title, its category), read once per generation: explanations name items."""
    fields = _FIELDS.setdefault(generation, {})
    if (name, item_id) not in fields:
        fields[name, item_id] = getattr(generation.item(item_id), name)
    return fields[name, item_id]


def _title(generation: Generation, item_id: str) -> str:
    return _field(generation, item_id, "title")


CATEGORY_REASON = SCORES["favourite_categories"].reason


def _reason(generation: Generation, r: Recommendation, rule: Rule | None) -> str:
    """A feed item's reason in the shopper's words: "popular in Dresses" rather than "popular in your categories"."""
    if rule is not None and rule.action == "pin":
        return "promoted"
    if r.reason == CATEGORY_REASON and (category := _field(generation, r.id, "category")):
        return f"popular in {category}"
    return r.reason


def item_out(item: Item, score: float | None = None, **extra) -> dict:
    data = item.to_dict()
    del data["image"]
    return {**data,
            "score": None if score is None else round(score, 6), "image_url": f"/items/{quote(item.id, safe='')}/image", **extra}


def matches_out(generation: Generation, matches: Iterable[Match], reason: str) -> Response:
    """Search results as JSON, from the generation that found them, each with why it is there (``reason``, or the
    business rule that placed it)."""
    return Response(b'{"items":' + _items_json(generation, matches, reason) + b"}", media_type="application/json")


def search_out(generation: Generation, found: SearchResults) -> Response:
    """A text search's items, with its mode and what its words became."""
    about = json.dumps({"mode": found.mode, "understood": found.understood, "preferred": found.preferred,
                        "searched": found.searched}, separators=(",", ":"), default=str).encode()
    words = f"\u201c{found.searched}\u201d" if found.searched else "your photo"
    reason = f"looks like {words}" if found.mode == "visual" or not found.searched else f"matches {words}"
    return Response(b'{"items":' + _items_json(generation, found.matches, reason) + b"," + about[1:],
                    media_type="application/json")


def similar_reason(generation: Generation, item_id: str | None = None) -> str:
    return f"looks like {_title(generation, item_id)}" if item_id is not None else "looks like your photo"


def _items_json(generation: Generation, matches: Iterable[Match], reason: str) -> bytes:
    notes = getattr(matches, "notes", {})
    plain = b'"reason":%s,"rule":null' % json.dumps(reason).encode()
    parts = [b'{"score":%s,%s,%s' % (json.dumps(round(m.score, 6)).encode(),
                                     _explained(notes[m.id], reason) if m.id in notes else plain, _item_json(generation, m.id))
             for m in matches]
    return b"[" + b",".join(parts) + b"]"


def _explained(rule: Rule, reason: str) -> bytes:
    """An item a business rule placed (a pin: promoted) or moved (the ranking's reason stays), and the rule."""
    return b'"reason":%s,"rule":%s' % (json.dumps("promoted" if rule.action == "pin" else reason).encode(),
                                       json.dumps({"action": rule.action, "label": rule.label}).encode())


def _item_json(generation: Generation, item_id: str, known: bool = True) -> bytes | None:
    """An item's JSON without its score and its opening "{", serialised once per generation; None for an item the
    generation lacks (``known=False``: look first)."""
    serialised = _ITEM_JSON.setdefault(generation, {})
    if item_id not in serialised:
        if not known and item_id not in generation.state:
            return None
        data = item_out(generation.item(item_id))
        del data["score"]
        serialised[item_id] = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()[1:]
    return serialised[item_id]


def look_out(generation: Generation, garments: Iterable[GarmentMatches]) -> dict:
    """Shop the look's garments, each with its similar items."""
    return {"garments": [{"type": g.garment.type, "box": list(g.garment.box), "confidence": g.garment.confidence,
                          "items": [item_out(generation.item(m.id), m.score) for m in g.matches]} for g in garments]}


def recommendations_out(generation: Generation, recommendations: Iterable[Recommendation]) -> Response:
    """A feed as JSON: each item from the generation's serialised-item cache, with its reason, the user's item it
    follows from and its other variants."""
    notes = getattr(recommendations, "notes", {})
    recommendations = list(recommendations)
    mentioned = list({i for r in recommendations for i in (r.id, *r.variants, *([r.because] if r.because else []))})
    known = {i for i, row in zip(mentioned, generation.state.rows_of(mentioned)) if row >= 0}  # one look-up per feed
    parts = []
    for r in recommendations:
        if r.id not in known:  # one edited away meanwhile is left out, not a 404
            continue
        because = {"id": r.because, "title": _title(generation, r.because)} if r.because in known else None
        rule = notes.get(r.id)
        about = json.dumps({"score": round(r.score, 6), "reason": _reason(generation, r, rule),
                            "because": because, "rule": rule and {"action": rule.action, "label": rule.label},
                            "variants": [v for v in r.variants if v in known]}, separators=(",", ":"), allow_nan=False).encode()
        parts.append(about[:-1] + b"," + _item_json(generation, r.id))
    return Response(b'{"items":[' + b",".join(parts) + b"]}", media_type="application/json")


def outfits_out(generation: Generation, outfits: Iterable[CompletedOutfit]) -> Response:
    """Completed outfits as JSON, each item from the generation's serialised-item cache, with why it is there."""
    notes = getattr(outfits, "notes", {})
    parts = []
    for outfit in outfits:
        given = next((i.id for i in outfit.items if i.given and i.id is not None and i.id in generation.state), None)
        partner = _title(generation, given) if given is not None else "your photo"
        proposed = f"in a stylist's outfit with {partner}" if outfit.source == "stylist" else f"often worn with {partner}"
        about = json.dumps({"source": outfit.source, "look": outfit.look, "score": outfit.score,
                            "total_price": outfit.total_price}, separators=(",", ":")).encode()
        bodies = [(i, _item_json(generation, i.id, known=False)) for i in outfit.items if i.id is not None]
        items = [(i, body) for i, body in bodies if body is not None]  # one edited away meanwhile is left out
        listed = b",".join(b'{"score":%s,"slot":%s,"given":%s,"replaces":%s,%s,%s' % (
            json.dumps(round(i.score, 6)).encode(), json.dumps(i.slot).encode(), json.dumps(i.given).encode(),
            json.dumps(i.replaces).encode(),
            _explained(notes[i.id], proposed) if i.id in notes and not i.given else
            b'"reason":%s,"rule":null' % json.dumps("in your cart" if i.given else proposed).encode(), body)
            for i, body in items)
        parts.append(about[:-1] + b',"items":[' + listed + b"]}")
    return Response(b'{"outfits":[' + b",".join(parts) + b"]}", media_type="application/json")


def tags_out(tags: dict[str, Tag], zero_shot: list[Tag] | None = None) -> dict:
    out = {"tags": {label: {"value": tag.value, "confidence": tag.confidence} for label, tag in tags.items()}}
    if zero_shot is not None:
        out["zero_shot"] = [{"value": tag.value, "confidence": tag.confidence} for tag in zero_shot]
    return out
