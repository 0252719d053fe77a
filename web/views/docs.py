"""A page that renders the OpenAPI document (server-side: no script, no CDN)."""

from __future__ import annotations

from aiohttp import web

from web.access import public
from web.appkeys import api_key
from web.render import render

routes = web.RouteTableDef()


@routes.get("/api/docs")
@public
async def api_docs(request: web.Request) -> web.Response:
    doc = request.app[api_key].openapi()
    operations = [
        (path, method.upper(), op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]
    return render(
        request,
        "api_docs.html",
        {
            "doc": doc,
            "operations": operations,
            "schemas": doc["components"]["schemas"],
        },
    )
