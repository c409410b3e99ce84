"""The API's routes, one module per resource; a new resource is a module with a ``router`` plus its line here.

Search comes first: its ``/items/{id}/similar`` must be tried before the catalog's ``/items/{id}``.
"""

from . import admin, catalog, outfits, page, recommendations, search, users

ROUTERS = [search.router, catalog.router, admin.router, users.router, recommendations.router, outfits.router, page.router]
