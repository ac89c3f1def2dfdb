"""Shared machinery of the spec dataclasses: validation helpers and fingerprints."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

#: Version of the design contract (SPEC.md v1). Part of every fingerprint, so golden
#: vectors made under another contract version never pass as current.
SPEC_VERSION = 1


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """Return ``value`` if it is an ``int`` in ``lo..hi`` (inclusive), else raise.

    ``bool`` is refused although it subclasses ``int``: ``lanes=True`` is a mistake.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        expected = f"at least {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be {expected}, not {value}")
    return value


class SpecBase:
    """Mixin for frozen spec dataclasses: a stable fingerprint over the fields.

    The fingerprint is the first 16 hex digits of the SHA-256 of a canonical JSON
    document holding the class name, the contract version and every field (nested specs
    by their own fields). Golden files record it, so a changed field is detected.
    """

    def as_dict(self) -> dict[str, Any]:
        """Fields as plain JSON-able values, nested specs expanded."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = v.as_dict() if isinstance(v, SpecBase) else v
        return out

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of the class name, contract version and fields."""
        doc = {"type": type(self).__name__, "spec_version": SPEC_VERSION, **self.as_dict()}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
