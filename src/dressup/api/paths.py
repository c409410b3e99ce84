"""One reading of every ``/items/{id}...`` path: the id is the first segment as sent, so an id holding "/" (sent as
%2F) or ending in a route's name ("10000/image") is never taken for a shorter id and a route."""

from __future__ import annotations

from urllib.parse import quote, unquote, unquote_to_bytes

ITEMS = b"/items/"


class ItemIdsAsSent:
    """ASGI middleware: ``/items/AB%2F12/similar`` is routed as item ``AB%2F12`` (still encoded, so that the routes'
    one-segment ``{item_id}`` takes it whole) and route ``similar``; `item_id_of` decodes it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and raw.startswith(ITEMS) and len(raw) > len(ITEMS):
            item, slash, rest = raw[len(ITEMS):].partition(b"/")
            route = (slash + unquote_to_bytes(rest)).decode("utf-8", "replace")
            path = "/items/" + quote(unquote_to_bytes(item), safe="") + route
            scope = {**scope, "path": path}
        await self.app(scope, receive, send)


def item_id_of(segment: str) -> str:
    """The id in a path's item segment, decoded and stripped as ids are on add."""
    return unquote(segment).strip()
