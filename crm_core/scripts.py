"""A campaign's call script with the list entry's fields filled in: ``{first_name}`` becomes the
entry's first name. A placeholder the entry has no field for stays as written, so the agent sees
what is missing rather than a blank."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


def render_script(template: str, fields: Mapping[str, object]) -> str:
    def value(match: re.Match[str]) -> str:
        found = fields.get(match.group(1))
        return match.group(0) if found is None or found == "" else str(found)

    return _PLACEHOLDER.sub(value, template)
