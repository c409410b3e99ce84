"""Accounts and their events: register, sign in with a token, record events, see and forget an account."""

from fastapi import APIRouter, Request, Response

from .. import schemas
from ..deps import ADMIN, AdminKey, ShopDep, UserDep, require_admin

router = APIRouter(tags=["users"])


@router.post("/users", status_code=201)
def register(shop: ShopDep, http: Request, key: AdminKey, request: schemas.RegisterRequest | None = None) -> schemas.Registered:
    """Create an account: its id (chosen by the server) and the token that signs its requests (shown only once).
    A shop may choose the id, with the admin key."""
    if request is not None and request.user_id is not None:
        require_admin(http, key)  # else anyone could claim a customer's id before the shop imports their history
    user, token = shop.register(request.user_id if request else None)
    return {"user_id": user, "token": token, "expires_at": shop.token_expiry(user)}


@router.post("/users/me/token")
def rotate_token(shop: ShopDep, user: UserDep) -> schemas.Registered:
    """A new token for the signed-in user, with a new expiry; the token that signed this request stops working."""
    return {"user_id": user, "token": shop.new_token(user), "expires_at": shop.token_expiry(user)}


@router.post("/users/{user_id:path}/token", tags=["users admin"], dependencies=ADMIN)
def new_token(shop: ShopDep, user_id: str) -> schemas.Registered:
    """A new token for an existing user, such as a customer whose purchases were imported (admin key needed);
    the user's earlier token stops working."""
    return {"user_id": user_id, "token": shop.new_token(user_id), "expires_at": shop.token_expiry(user_id)}


@router.get("/users/me")
def me(shop: ShopDep, user: UserDep) -> schemas.UserOut:
    return shop.user(user)


@router.delete("/users/me", status_code=204)
def forget_me(shop: ShopDep, user: UserDep) -> Response:
    """Delete the account and every event it recorded; the token stops working."""
    shop.forget(user)
    return Response(status_code=204)


@router.post("/users/me/events", status_code=201)
def add_event(shop: ShopDep, user: UserDep, event: schemas.EventIn) -> schemas.EventOut:
    """Record a like, dislike, rating (1-5), cart, purchase or view; the feed takes it into account at once."""
    shop.add_event(user, event.item_id, event.type, event.value)
    return {"user_id": user, "item_id": event.item_id, "type": event.type, "value": event.value}


@router.post("/users/me/clicks", status_code=201)
def add_click(shop: ShopDep, user: UserDep, click: schemas.ClickIn) -> schemas.ClickOut:
    """A click on an item a surface showed: counted by the experiments running there (`dressup report experiments`).
    A click is not a view: send that too (``POST /users/me/events``) for the feed to learn from it."""
    return {"experiments": shop.record_click(user, click.item_id, click.surface)}
