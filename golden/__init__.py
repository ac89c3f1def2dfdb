"""Golden vectors: stimuli and the reference model's answers, replayed by the gateware
tests (Amaranth simulator and cocotb). ``python -m golden`` is their only writer.

>>> case = cases("lfsr")[0]
>>> sorted(case.arrays)
['codes']
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .generate import GOLDEN_DIR, MANIFEST

__all__ = ["GoldenCase", "cases"]


@dataclass(frozen=True)
class GoldenCase:
    """One stored case: its name, its arrays and its parameters (``meta``)."""

    name: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def cases(block: str) -> list[GoldenCase]:
    """Every stored case of ``block`` (``lfsr``, ``binarize``, ``pack``, ``xnor_acc``,
    ``store``), each checked against the manifest's sha256 before use.

    Raises
    ------
    ValueError
        Unknown block, or a file whose bytes differ from the manifest.
    """
    manifest = json.loads((GOLDEN_DIR / MANIFEST).read_text())
    paths = sorted(p for p in manifest["files"] if p.split("/")[0] == block)
    if not paths:
        blocks = sorted({p.split("/")[0] for p in manifest["files"]})
        raise ValueError(f"block must be one of {', '.join(blocks)}, not {block!r}")
    out = []
    for rel in paths:
        data = (GOLDEN_DIR / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest["files"][rel]:
            raise ValueError(
                f"golden file {rel} differs from manifest.json: run `python -m golden`"
            )
        with np.load(GOLDEN_DIR / rel) as z:
            arrays = {k: z[k] for k in z.files if k != "meta"}
            meta = json.loads(str(z["meta"]))
        out.append(GoldenCase(rel.split("/")[1].removesuffix(".npz"), arrays, meta))
    return out
