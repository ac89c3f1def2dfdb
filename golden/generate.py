"""Writing and checking the golden set: ``python -m golden [--check]`` calls these."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

import spec
from fileio import npz_bytes, write_atomic

from .cases import MASTER_SEED, Case, all_cases

#: Bump when the generator changes what it writes for an unchanged spec.
GENERATOR_VERSION = 1
MANIFEST = "manifest.json"
GOLDEN_DIR = Path(__file__).resolve().parent


def _spec_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with its spec objects replaced by their fields and fingerprints."""
    specs = meta.pop("spec")
    specs = specs if isinstance(specs, list) else [specs]
    meta["spec"] = {
        type(s).__name__: {**s.as_dict(), "fingerprint": s.fingerprint()} for s in specs
    }
    return meta


def render(case: Case) -> bytes:
    """The exact bytes of a case's ``.npz`` (arrays plus a ``meta`` JSON string)."""
    meta = _spec_meta(dict(case.meta))
    arrays = dict(case.arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    return npz_bytes(arrays)


def build() -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every golden file's bytes by relative path, and the manifest describing them."""
    files = {f"{c.block}/{c.name}.npz": render(c) for c in all_cases()}
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "spec_version": spec.SPEC_VERSION,
        "spec_fingerprint": spec.fingerprint(),
        "seed": MASTER_SEED,
        "files": {p: hashlib.sha256(b).hexdigest() for p, b in sorted(files.items())},
    }
    return files, manifest


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as written: sorted keys, two-space indent, final newline."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def write(root: Path, *, verbose: bool = True) -> int:
    """Regenerate the golden set under ``root``; returns the number of files written.

    Each file is written atomically and the manifest last; ``.npz`` files under
    ``root/<block>/`` that the generator no longer makes are removed.
    """
    files, manifest = build()
    for i, (rel, data) in enumerate(sorted(files.items()), start=1):
        write_atomic(root / rel, data)
        if verbose:
            print(f"[{i:3d}/{len(files)}] {rel}")
    for stale in sorted(root.glob("*/*.npz")):
        if stale.relative_to(root).as_posix() not in files:
            stale.unlink()
            if verbose:
                print(f"removed stale {stale.relative_to(root)}")
    write_atomic(root / MANIFEST, manifest_bytes(manifest))
    return len(files)


def differences(root: Path) -> list[str]:
    """What differs between the golden set under ``root`` and a fresh generation.

    Each entry names one problem: a changed spec fingerprint or generator version, and
    every missing, extra, edited or changed file. Empty when the set is current.
    """
    files, manifest = build()
    problems: list[str] = []
    try:
        committed = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return [f"{root / MANIFEST}: cannot read the manifest ({exc})"]
    for key in ("spec_fingerprint", "spec_version", "generator_version", "seed"):
        if committed.get(key) != manifest[key]:
            problems.append(
                f"{key} changed: manifest has {committed.get(key)!r}, "
                f"the current spec and generator give {manifest[key]!r}"
            )
    on_disk = {p.relative_to(root).as_posix() for p in root.glob("*/*.npz")}
    listed = set(committed.get("files", {}))
    for rel in sorted(on_disk | listed | set(files)):
        if rel not in files:
            problems.append(f"{rel}: not made by the generator (stale)")
        elif rel not in on_disk:
            problems.append(f"{rel}: missing")
        else:
            sha = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            if listed and committed["files"].get(rel) != sha:
                problems.append(f"{rel}: sha256 differs from the manifest (edited by hand?)")
            if sha != manifest["files"][rel]:
                problems.append(f"{rel}: differs from a fresh generation")
    return problems
