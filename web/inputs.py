"""Reading request bodies strictly: a byte that is not UTF-8 is an error naming its field, not
a silent replacement character; validation errors name their fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from aiohttp import web
from pydantic import BaseModel, ValidationError

from crm_core.errors import DomainError, InvalidInput, NotFound
from web.appkeys import form_key
from web.errors import problem_of

M = TypeVar("M", bound=BaseModel)
FORM_TYPE = "application/x-www-form-urlencoded"


class BadInput(InvalidInput):
    """Input refused before or during validation; `fields` maps field names to messages.
    A domain error like the others, so a form view catches DomainError alone."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message, fields=fields)


class MalformedBody(BadInput):
    """The body cannot be read at all (not UTF-8, not JSON): no field to name."""

    code = "bad_request"


class UnsupportedBody(BadInput):
    """A body of another type than the one expected (a form, or JSON)."""

    code = "unsupported_media_type"


def parse_urlencoded(body: bytes) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition(b"=")
        try:
            key = unquote_to_bytes(raw_key.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody("a field name is not valid UTF-8") from exc
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{key}: not valid UTF-8 text", {key: "not valid UTF-8 text"}) from exc
        form.setdefault(key, []).append(value)
    return form


async def read_form(request: web.Request) -> dict[str, list[str]]:
    if form_key in request:
        return request[form_key]
    if request.content_type != FORM_TYPE:
        raise UnsupportedBody(f"expected a form ({FORM_TYPE})")
    request[form_key] = form = parse_urlencoded(await request.read())
    return form


def form_values(form: dict[str, list[str]], *, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """Flatten a parsed form: single values for ordinary fields, lists for the named ones."""
    return {k: (v if k in lists else v[-1]) for k, v in form.items() if k != "csrf_token"}


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedBody("expected a JSON body (Content-Type: application/json)")
    body = await request.read()
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedBody("the body is not valid UTF-8") from exc
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # [[[[… nested deeper than the decoder goes
        raise MalformedBody("the body is nested too deeply") from exc


def path_id(request: web.Request, name: str) -> int:
    """A numeric id from the path (``order_id``): anything else is no such thing, a 404."""
    value = request.match_info[name]
    if not value.isdigit() or len(value) > 18:
        raise NotFound(f"no {name.removesuffix('_id')} {value[:20]!r}")
    return int(value)


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {}
        for error in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(p) for p in error["loc"]) or "body"
            fields.setdefault(name, error["msg"])
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise BadInput(f"invalid input: {summary}", fields) from exc


def form_problem(exc: DomainError) -> tuple[int, str, dict[str, str]]:
    """What a page shows for a refused form: status (from the one error table), message, and
    the message per field."""
    problem = problem_of(exc)
    return problem.status, problem.message, problem.fields
