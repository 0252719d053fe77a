"""Lists the pages and the API page through: the query string read into a filter model (a bad
value is a 422 naming its parameter, like a bad body), and one shape for a page of results."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from crm_core.errors import InvalidInput
from crm_core.schemas import Input
from crm_core.tabular import Format, export
from web.inputs import validate

M = TypeVar("M", bound=BaseModel)
PAGING = ("page", "per_page")


class Paging(Input):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=200)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def limit(self) -> int:
        """One more than a page: whether there is a next page, without counting."""
        return self.per_page + 1

    def page_of(self, items: Sequence[Any]) -> dict[str, Any]:
        return {
            "items": list(items[: self.per_page]),
            "page": self.page,
            "per_page": self.per_page,
            "more": len(items) > self.per_page,
        }


def query_values(query: Any, names: Sequence[str], *, lists: Sequence[str] = ()) -> dict[str, Any]:
    """The named parameters that were given a value; those in ``lists`` as lists (repeated,
    or comma-separated: ``?status=draft,confirmed``). Others are left out, so that an unknown
    parameter does not fail a page that a newer link points at."""
    values: dict[str, Any] = {}
    for name in names:
        given = [v for v in query.getall(name, []) if v.strip() != ""]
        if not given:
            continue
        if name in lists:
            values[name] = [part.strip() for v in given for part in v.split(",") if part.strip()]
        else:
            values[name] = given[-1].strip()
    return values


def read_query(
    request: web.Request, model: type[M], *, lists: Sequence[str] = ()
) -> tuple[M, Paging]:
    """The filter and the page a list was asked for."""
    names = list(model.model_fields)
    return validate(model, query_values(request.query, names, lists=lists)), read_paging(request)


def read_paging(request: web.Request) -> Paging:
    return validate(Paging, query_values(request.query, PAGING))


# Exports: a list page with ?format=csv or ?format=xlsx gives the whole list (up to
# EXPORT_LIMIT rows) as that file, filtered as the page is.
EXPORT_LIMIT = 100_000


def requested_export(request: web.Request) -> Format | None:
    """The file a list page was asked for instead of the page, if any."""
    kind = request.query.get("format")
    if kind is None:
        return None
    if kind not in ("csv", "xlsx"):
        raise InvalidInput("format: csv or xlsx", field="format")
    return kind  # type: ignore[return-value]


def export_paging() -> Paging:
    """Every row a filter finds, up to EXPORT_LIMIT (beyond a page's own bound)."""
    return Paging.model_construct(page=1, per_page=EXPORT_LIMIT)


async def export_response(items: Sequence[dict[str, Any]], kind: Format, name: str) -> web.Response:
    """The items as a file: one column per plain field of the first item (nested ones are
    written as JSON text); formula cells made inert (crm_core.tabular)."""
    columns = list(items[0]) if items else []
    rows = [[_cell(item.get(column)) for column in columns] for item in items]
    content, media = await asyncio.to_thread(export, columns, rows, kind)
    return web.Response(
        body=content,
        headers={
            "Content-Type": media,
            "Content-Disposition": f'attachment; filename="{name}.{kind}"',
        },
    )


def _cell(value: Any) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
