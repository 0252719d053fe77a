"""Spreadsheets in and out: rows read from CSV (UTF-8, UTF-8 with BOM, or GBK) or xlsx one at a
time, so that a file of any length reads in flat memory; rows written to CSV or xlsx with every
cell that a spreadsheet would run as a formula made inert.

No database here: ``crm_core.imports`` validates and stores what this reads; the list pages
export through ``export``."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crm_core.errors import InvalidInput

Format = Literal["csv", "xlsx"]
# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets
# (``=cmd|' /C calc'!A0``, ``+1+1``, ``@SUM(...)``, a tab or return before any of them).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SNIFF_BYTES = 64 * 1024
MAX_COLUMNS = 50
MAX_CELL = 10_000


@dataclass(frozen=True, slots=True)
class Sheet:
    """The header (lower-case, trimmed) and an iterator over the data rows: (row number as
    the user sees it in their spreadsheet, cells by column name)."""

    columns: tuple[str, ...]
    rows: Iterator[tuple[int, dict[str, str]]]


def read_sheet(path: Path, filename: str) -> Sheet:
    """Open an uploaded file by its content (an xlsx is a zip), else as CSV in the first
    encoding that fits. Raises InvalidInput when it is neither, or has no header row."""
    with path.open("rb") as probe:
        head = probe.read(_SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return _xlsx(path)
    if b"\x00" in head:
        raise InvalidInput(f"{filename}: not a CSV or xlsx file", field="file")
    return _csv(path, _encoding(head, filename))


def _encoding(head: bytes, filename: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "gbk"):
        try:
            # The sample may end inside a character: ignore a cut-off last one.
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    raise InvalidInput(f"{filename}: text neither UTF-8 nor GBK", field="file")


def _csv(path: Path, encoding: str) -> Sheet:
    handle = path.open("r", encoding=encoding, newline="", errors="strict")
    sample = handle.read(_SNIFF_BYTES)
    handle.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(handle, dialect)
    columns = _header(next(reader, None))

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for number, cells in enumerate(reader, start=2):
                if any(c.strip() for c in cells):
                    yield number, _row(columns, cells)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"text not {encoding} after row {reader.line_num}", field="file"
            ) from exc
        finally:
            handle.close()

    return Sheet(columns, rows())


def _xlsx(path: Path) -> Sheet:
    from openpyxl import load_workbook  # only for xlsx files
    from openpyxl.utils.exceptions import InvalidFileException

    handle = path.open("rb")  # a file object: openpyxl judges a path by its extension
    try:
        book = load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        handle.close()
        raise InvalidInput(f"not a readable xlsx file: {exc}"[:200], field="file") from exc
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    columns = _header([_text(v) for v in next(values, None) or ()])

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for number, cells in enumerate(values, start=2):
                texts = [_text(v) for v in cells]
                if any(t.strip() for t in texts):
                    yield number, _row(columns, texts)
        finally:
            book.close()
            handle.close()

    return Sheet(columns, rows())


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a cell: 5551234567, not 5551234567.0
    return str(value)


def _header(cells: Sequence[str] | None) -> tuple[str, ...]:
    if not cells or not any(c.strip() for c in cells):
        raise InvalidInput("the file has no header row", field="file")
    if len(cells) > MAX_COLUMNS:
        raise InvalidInput(f"more than {MAX_COLUMNS} columns: not a list we import", field="file")
    return tuple(c.strip().lstrip("\ufeff").lower() for c in cells)


def _row(columns: tuple[str, ...], cells: Sequence[str]) -> dict[str, str]:
    return {
        name: _restored((cells[i] if i < len(cells) else "")[:MAX_CELL].strip())
        for i, name in enumerate(columns)
    }


def _restored(cell: str) -> str:
    """The inverse of `neutralised`: a file we exported reads back as it was ('+1555… is
    +1555…)."""
    if cell.startswith("'") and cell[1:2] and cell[1] in "=+-@":
        return cell[1:]
    return cell


# ---------------------------------------------------------------- writing


def neutralised(value: object) -> object:
    """A cell as a spreadsheet must show it: text that would start a formula gets a leading
    apostrophe (shown as text, never run); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export(
    columns: Sequence[str], rows: Iterable[Sequence[object]], kind: Format
) -> tuple[bytes, str]:
    """The rows as a file of ``kind``; returns (content, media type)."""
    if kind == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else neutralised(v) for v in row])
        # With a BOM: Excel opens UTF-8 (Chinese names) correctly only so.
        return codecs.BOM_UTF8 + text.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(columns))
    for row in rows:
        sheet.append([neutralised(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return (
        out.getvalue(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def report_csv(rows: Iterable[tuple[int, str, dict[str, str]]], columns: Sequence[str]) -> str:
    """The rejected rows of an import: their row number, why, and what they held."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["row", "reason", *columns])
    for number, reason, cells in rows:
        writer.writerow([number, reason, *(neutralised(cells.get(c, "")) for c in columns)])
    return text.getvalue()
