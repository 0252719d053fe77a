"""List settings as people write them in the environment: ``sales,support``, a single ``sales``,
or a JSON list (``["sales","support"]``). pydantic-settings would only take JSON; the fields
are ``NoDecode`` and run ``comma_list`` first. A bad value is refused naming the setting and
the form expected, instead of a JSON decoding error."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListForm:
    """What one item of a list setting looks like, and how to say so."""

    expected: str  # e.g. "queue names, e.g. sales,support"
    fits: Callable[[str], bool] = bool  # default: any non-empty item

    @classmethod
    def matching(cls, pattern: str, expected: str) -> ListForm:
        compiled = re.compile(pattern)
        return cls(expected, lambda item: compiled.fullmatch(item) is not None)

    @classmethod
    def one_of(cls, names: frozenset[str], expected: str) -> ListForm:
        return cls(expected, names.__contains__)


def comma_list(value: object, *, setting: str, form: ListForm) -> object:
    """The items of ``value``: split and stripped from a string, checked against ``form``.
    Lists (from TOML or code) are checked and passed on; pydantic checks the item type."""
    if isinstance(value, str):
        items = _items(value, setting, form)
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        return value  # not ours to judge: pydantic says what type it wanted
    for item in items:
        if not form.fits(str(item)):
            raise ValueError(f"{setting}: expected {form.expected}; got {item!r}")
    return items


def _items(text: str, setting: str, form: ListForm) -> list[object]:
    text = text.strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if not isinstance(decoded, list):
            raise ValueError(
                f"{setting}: expected {form.expected} (or a JSON list); got {text!r}, "
                "which is not a JSON list"
            )
        return decoded
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        return []
    if "" in items:
        raise ValueError(f"{setting}: expected {form.expected}; got an empty item in {text!r}")
    return items
