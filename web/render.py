"""Rendering pages with what every page needs: the user, their CSRF token and their menu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from web.principal import Principal, principal


@dataclass(frozen=True, slots=True)
class MenuItem:
    title: str
    url: str
    permission: str | None  # None: every logged-in user
    description: str


# The functions a user can reach; each page appears only to those whose role allows it.
# Later features add their pages here.
MENU: tuple[MenuItem, ...] = (
    MenuItem(
        "Agent desktop", "/agent", "calls.handle", "Go ready, take calls with the caller on screen"
    ),
    MenuItem("Customers", "/customers", "customers.read", "Find a customer, see their history"),
    MenuItem("Orders", "/orders", "orders.read", "Orders by customer, agent, status and date"),
    MenuItem("Products", "/products", "products.read", "The catalogue and its stock per warehouse"),
    MenuItem(
        "Service requests",
        "/service-requests",
        "service_requests.read",
        "My requests and each department's queue, overdue first",
    ),
    MenuItem("Callbacks", "/callbacks", "customers.read", "Calls I promised to make, when due"),
    MenuItem(
        "Opportunities",
        "/opportunities",
        "opportunities.read",
        "Sales opportunities, their development plans and the funnel",
    ),
    MenuItem(
        "Churn warnings",
        "/churn-warnings",
        "churn.read",
        "Customers who stopped ordering, and the measures taken",
    ),
    MenuItem(
        "Agents live",
        "/supervisor",
        "campaigns.monitor",
        "Every agent's state and call, as it changes",
    ),
    MenuItem("PBX link", "/pbx", "pbx.monitor", "The AMI link, its calls and its workers"),
    MenuItem("Users", "/admin/users", "users.admin", "Create, disable and edit users"),
    MenuItem("Roles", "/admin/roles", "roles.admin", "Which role may do what"),
    MenuItem(
        "Data dictionary",
        "/admin/dictionary",
        "dictionary.admin",
        "Levels, regions, dispositions, pause reasons …",
    ),
    MenuItem("Audit trail", "/admin/audit", "audit.read", "Who changed what, and when"),
    MenuItem("API", "/api/docs", None, "The JSON API and its OpenAPI document"),
)


def menu_for(who: Principal | None) -> list[MenuItem]:
    if who is None:
        return []
    return [m for m in MENU if m.permission is None or who.can(m.permission)]


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    who = principal(request)
    # A list page links to itself as a file: the same filters, ?format=csv or xlsx.
    terms = urlencode([(k, v) for k, v in request.query.items() if k not in ("page", "format")])
    page = {
        "me": who,
        "menu": menu_for(who),
        "csrf_token": who.csrf_token if who else "",
        "export_base": request.path + "?" + (terms + "&" if terms else ""),
    }
    page.update(context or {})
    return aiohttp_jinja2.render_template(template, request, page, status=status)
