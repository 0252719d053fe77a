"""Administration pages: users, roles and their permissions, the data dictionary, audit."""

from __future__ import annotations

from aiohttp import web

from crm_core.dictionary import CATEGORIES, NUMBER_NAMES, NUMBERS
from crm_core.errors import DomainError, NotFound
from crm_core.permissions import PERMISSIONS
from crm_core.schemas import (
    DictionaryEntryCreate,
    DictionaryEntryUpdate,
    PasswordReset,
    RolePermissionsUpdate,
    UserCreate,
    UserUpdate,
)
from web import operations
from web.access import requires
from web.inputs import form_problem, form_values, read_form, validate
from web.render import render

routes = web.RouteTableDef()


def _user_id(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise NotFound(f"no user with id {value[:20]!r}") from exc


@routes.get("/admin/users")
@requires("users.admin")
async def users_page(request: web.Request) -> web.Response:
    return render(request, "admin/users.html", {"users": await operations.list_users(request)})


@routes.get("/admin/users/new")
@requires("users.admin")
async def new_user_page(request: web.Request) -> web.Response:
    return render(
        request,
        "admin/user_new.html",
        {
            "roles": await operations.list_roles(request),
            "values": {"roles": []},
            "fields": {},
            "error": "",
        },
    )


@routes.post("/admin/users/new")
@requires("users.admin")
async def new_user_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request), lists=("roles",))
    values.setdefault("roles", [])
    for optional in ("email", "extension"):
        if not values.get(optional):
            values.pop(optional, None)
    try:
        user = await operations.create_user(request, validate(UserCreate, values))
    except DomainError as exc:
        status, error, fields = form_problem(exc)
        values.pop("password", None)
        return render(
            request,
            "admin/user_new.html",
            {
                "roles": await operations.list_roles(request),
                "values": values,
                "fields": fields,
                "error": error,
            },
            status=status,
        )
    raise web.HTTPSeeOther(f"/admin/users/{user.id}?saved=1")


async def _user_page(
    request: web.Request, user_id: int, *, problem: DomainError | None = None
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "admin/user_edit.html",
        {
            "user": await operations.get_user(request, user_id),
            "roles": await operations.list_roles(request),
            "fields": fields,
            "error": error,
            "saved": problem is None and request.query.get("saved") == "1",
        },
        status=status,
    )


@routes.get("/admin/users/{user_id}")
@requires("users.admin")
async def user_page(request: web.Request) -> web.Response:
    return await _user_page(request, _user_id(request.match_info["user_id"]))


@routes.post("/admin/users/{user_id}")
@requires("users.admin")
async def user_submit(request: web.Request) -> web.Response:
    user_id = _user_id(request.match_info["user_id"])
    values = form_values(await read_form(request), lists=("roles",))
    values.setdefault("roles", [])
    values["is_active"] = values.get("is_active") in ("on", "true", "1")
    for optional in ("email", "extension"):
        if not values.get(optional):
            values[optional] = None
    try:
        await operations.update_user(request, user_id, validate(UserUpdate, values))
    except DomainError as exc:
        return await _user_page(request, user_id, problem=exc)
    raise web.HTTPSeeOther(f"/admin/users/{user_id}?saved=1")


@routes.post("/admin/users/{user_id}/password")
@requires("users.admin")
async def password_submit(request: web.Request) -> web.Response:
    user_id = _user_id(request.match_info["user_id"])
    values = form_values(await read_form(request))
    try:
        data = validate(PasswordReset, values)
        await operations.reset_password(request, user_id, data.password)
    except DomainError as exc:
        return await _user_page(request, user_id, problem=exc)
    raise web.HTTPSeeOther(f"/admin/users/{user_id}?saved=1")


@routes.get("/admin/roles")
@requires("roles.admin")
async def roles_page(request: web.Request) -> web.Response:
    return render(
        request,
        "admin/roles.html",
        {
            "roles": await operations.list_roles(request),
            "permissions": PERMISSIONS,
            "error": "",
            "saved": request.query.get("saved", ""),
        },
    )


@routes.post("/admin/roles/{name}")
@requires("roles.admin")
async def role_submit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    values = form_values(await read_form(request), lists=("permissions",))
    values.setdefault("permissions", [])
    try:
        data = validate(RolePermissionsUpdate, values)
        await operations.set_role_permissions(request, name, data.permissions)
    except DomainError as exc:
        status, error, _fields = form_problem(exc)
        return render(
            request,
            "admin/roles.html",
            {
                "roles": await operations.list_roles(request),
                "permissions": PERMISSIONS,
                "error": error,
                "saved": "",
            },
            status=status,
        )
    raise web.HTTPSeeOther(f"/admin/roles?saved={name}")


@routes.get("/admin/dictionary")
@requires("dictionary.admin")
async def dictionary_page(request: web.Request) -> web.Response:
    return render(request, "admin/dictionary.html", {"categories": CATEGORIES})


async def _category_page(
    request: web.Request,
    category: str,
    *,
    status: int = 200,
    error: str = "",
    fields: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
) -> web.Response:
    entries = await operations.dictionary_entries(request, category)
    return render(
        request,
        "admin/dictionary_category.html",
        {
            "category": category,
            "title": CATEGORIES[category],
            # The number its entries carry, if any: (attribute, what it is).
            "number": NUMBERS.get(category),
            "entries": entries,
            "error": error,
            "fields": fields or {},
            "values": values or {},
        },
        status=status,
    )


@routes.get("/admin/dictionary/{category}")
@requires("dictionary.admin")
async def category_page(request: web.Request) -> web.Response:
    return await _category_page(request, request.match_info["category"])


@routes.post("/admin/dictionary/{category}")
@requires("dictionary.admin")
async def category_add(request: web.Request) -> web.Response:
    category = request.match_info["category"]
    values = form_values(await read_form(request))
    for name in NUMBER_NAMES:  # an empty number field: none
        if not values.get(name):
            values.pop(name, None)
    try:
        await operations.create_dictionary_entry(
            request, category, validate(DictionaryEntryCreate, values)
        )
    except DomainError as exc:
        status, error, fields = form_problem(exc)
        if category not in CATEGORIES:
            raise
        return await _category_page(
            request, category, status=status, error=error, fields=fields, values=values
        )
    raise web.HTTPSeeOther(f"/admin/dictionary/{category}")


@routes.post("/admin/dictionary/{category}/{code}")
@requires("dictionary.admin")
async def entry_update(request: web.Request) -> web.Response:
    category, code = request.match_info["category"], request.match_info["code"]
    values = form_values(await read_form(request))
    values["is_active"] = values.get("is_active") in ("on", "true", "1")
    for name in NUMBER_NAMES:
        if not values.get(name):
            values.pop(name, None)
    if category in NUMBERS:  # the row's number field, emptied: the number is unset
        values.setdefault(NUMBERS[category][0], None)
    try:
        await operations.update_dictionary_entry(
            request, category, code, validate(DictionaryEntryUpdate, values)
        )
    except DomainError as exc:
        status, error, fields = form_problem(exc)
        if category not in CATEGORIES:
            raise
        return await _category_page(request, category, status=status, error=error, fields=fields)
    raise web.HTTPSeeOther(f"/admin/dictionary/{category}")


@routes.get("/admin/audit")
@requires("audit.read")
async def audit_page(request: web.Request) -> web.Response:
    return render(request, "admin/audit.html", {"entries": await operations.audit_entries(request)})
