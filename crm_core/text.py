"""Validation of free text shared by every form and API model: what may be stored at all."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def _forbidden(value: str, *, multiline: bool) -> str | None:
    for ch in value:
        if "\ud800" <= ch <= "\udfff":
            return "contains an invalid (surrogate) character"
        if ch in "\n\t" and multiline:
            continue
        if ch == "\r" and multiline:
            continue
        if unicodedata.category(ch) == "Cc":
            return "contains a control character"
    return None


def _single_line(value: str) -> str:
    if problem := _forbidden(value, multiline=False):
        raise ValueError(problem)
    return unicodedata.normalize("NFC", value)


def _multi_line(value: str) -> str:
    if problem := _forbidden(value, multiline=True):
        raise ValueError(problem)
    return unicodedata.normalize("NFC", value)


def Line(max_length: int, min_length: int = 1) -> object:
    """One line of text: trimmed, no control characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_single_line),
    ]


def Paragraph(max_length: int, min_length: int = 0) -> object:
    """Several lines of text (notes): newlines and tabs allowed, other control characters not."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_multi_line),
    ]
