"""Registers API routes and describes them in OpenAPI from the pydantic models they take."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from web.access import LOGGED_IN, PUBLIC, check_access
from web.inputs import read_json, validate

PREFIX = "/api/v1"
ApiHandler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    access: str
    body: type[BaseModel] | None
    status: int
    tag: str
    upload: tuple[str, ...] = ()  # media types taken as a raw body (a file), not JSON


Endpoint = Callable[[web.Request], Awaitable[web.Response]]


class ApiRoutes:
    """A view module's API operations (like aiohttp's RouteTableDef): declared where their
    handlers are, registered by the app factory (``Api``), never on import."""

    def __init__(self) -> None:
        self.entries: list[tuple[Operation, Endpoint]] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        access: str = LOGGED_IN,
        body: type[BaseModel] | None = None,
        status: int = 200,
        tag: str = "",
        upload: tuple[str, ...] = (),
    ) -> Callable[[ApiHandler], ApiHandler]:
        """Handlers return JSON-able data; with `body`, they receive the validated model. With
        `upload`, the request body is a file of one of those media types (the handler streams
        it from ``request.content``; the CSRF header is still required)."""
        check_access(access)

        def register(handler: ApiHandler) -> ApiHandler:
            @functools.wraps(handler)
            async def endpoint(request: web.Request) -> web.Response:
                if body is None:
                    result = await handler(request)
                else:
                    result = await handler(request, validate(body, await read_json(request)))
                if isinstance(result, web.StreamResponse):
                    return result  # type: ignore[return-value]
                return web.json_response(result, status=status)

            endpoint.access = access  # type: ignore[attr-defined]
            endpoint.upload = upload  # type: ignore[attr-defined]
            self.entries.append(
                (
                    Operation(
                        method,
                        path,
                        summary,
                        access,
                        body,
                        status,
                        tag or path.split("/")[1],
                        upload,
                    ),
                    endpoint,
                )
            )
            return handler

        return register


class Api:
    """The API of one app: the operations of the modules it was built from."""

    def __init__(self, *tables: ApiRoutes) -> None:
        self.entries = [entry for table in tables for entry in table.entries]
        self.operations = [operation for operation, _ in self.entries]

    def add_to(self, app: web.Application) -> None:
        for operation, endpoint in self.entries:
            app.router.add_route(operation.method, PREFIX + operation.path, endpoint)

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        schemas: dict[str, Any] = {}
        for op in self.operations:
            item: dict[str, Any] = {
                "summary": op.summary,
                "tags": [op.tag],
                "responses": {
                    str(op.status): {"description": "success"},
                    "401": {"description": "not logged in"},
                    "403": {"description": "no permission, or missing X-CSRF-Token"},
                    "422": {"description": "invalid input; `fields` names each field at fault"},
                },
            }
            if op.access == PUBLIC:
                item["security"] = []
            elif op.access != LOGGED_IN:
                needed = " or ".join(f"`{p}`" for p in op.access.split("|"))
                item["description"] = f"Needs the permission {needed}."
            params = re.findall(r"{(\w+)}", op.path)
            if params:
                item["parameters"] = [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in params
                ]
            if op.body is not None:
                schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[op.body.__name__] = schema
                item["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}
                        }
                    },
                }
            if op.upload:
                item["requestBody"] = {
                    "required": True,
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in op.upload
                    },
                }
            paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = item
        return {
            "openapi": "3.1.0",
            "info": {"title": "Call-centre CRM API", "version": "1"},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "session": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
                    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                },
            },
            "security": [{"session": [], "csrf": []}],
        }
