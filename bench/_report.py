"""Shared output of the benchmarks: a plain-text table on stdout and a JSON file."""

from __future__ import annotations

import argparse
import json
import platform
import re
from pathlib import Path
from typing import Any

from fileio import OutputError, check_output, write_atomic

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def folder_name(name: str) -> str:
    """``name`` (a block or design name such as ``X[a, b=1]``) as a plain folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None, name: str) -> Any:
    """``parser.parse_args(argv)``, then check before any work that the JSON output
    (``--out``, default ``bench/results/<name>.json``) can be written: exit 2 if not."""
    args = parser.parse_args(argv)
    try:
        check_output(args.out or RESULTS_DIR / f"{name}.json", "--out")
    except OutputError as e:
        parser.error(str(e))
    return args


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as an aligned text table with the given columns."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def save(name: str, rows: list[dict[str, Any]], out: Path | None = None, **extra: Any) -> Path:
    """Write ``{"machine": ..., "rows": rows, **extra}`` atomically to ``out`` (default
    ``bench/results/<name>.json``) and return the path."""
    path = out or RESULTS_DIR / f"{name}.json"
    doc = {"benchmark": name, "machine": platform.machine(), "python": platform.python_version()}
    doc.update(extra, rows=rows)
    write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode())
    return path
