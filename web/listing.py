"""Lists the pages and the API page through: the query string read into a filter model (a bad
value is a 422 naming its parameter, like a bad body), and one shape for a page of results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from crm_core.schemas import Input
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
