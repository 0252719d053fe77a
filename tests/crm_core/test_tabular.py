"""Spreadsheets out and back in: what we export (formulas made inert) reads back as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_core.tabular import export, read_sheet


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_exported_list_reads_back_as_it_was(tmp_path: Path, kind: str) -> None:
    rows = [["+12127361000", '=HYPERLINK("x")', "Ann"], ["-5", "@home", "it's fine"]]
    content, _ = export(["phone", "note", "name"], rows, kind)  # type: ignore[arg-type]
    path = tmp_path / f"list.{kind}"
    path.write_bytes(content)
    sheet = read_sheet(path, path.name)
    back = [[row[c] for c in ("phone", "note", "name")] for _, row in sheet.rows]
    assert back == rows


def test_a_cell_exported_with_its_apostrophe_is_inert_text_in_the_file(tmp_path: Path) -> None:
    content, _ = export(["phone"], [["+12127361000"]], "csv")
    assert b"'+12127361000" in content
