"""Writing files safely: atomic writes, output checks before work, reproducible ``.npz``.

A leaf package: it imports nothing of the project, so the gateware build, the estimator,
the reference model and the benches can all use it without loading each other.

``numpy.savez`` stamps each member with the current time, so two runs never give the
same bytes. Golden files must (a test regenerates them and compares), so members are
written here with a fixed timestamp and no compression.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["OutputError", "check_output", "npz_bytes", "write_atomic"]

_EPOCH = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The ``.npz`` encoding of ``arrays``, members in sorted order, fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``path.new`` and a rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class OutputError(ValueError):
    """An output path that cannot be written; the message names the option and the fix."""


def check_output(path: Path, option: str, *, folder: bool = False) -> None:
    """Fail before any long work if ``path`` (a file, or a folder with ``folder``) cannot be
    written: creates the missing parent folders and writes and removes a probe file.

    Raises
    ------
    OutputError
        Naming ``option``, the path and why, e.g. ``--out /proc/x/r.json: cannot create
        the folder /proc/x (No such file or directory)``.
    """
    path = Path(path)
    where = path if folder else path.parent
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file, not a folder; give a folder")
    if not folder and path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; give a file name")
    existing = where
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is a file, not a folder")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            f"{option} {path}: cannot create the folder {where} ({e.strerror})"
        ) from None
    probe = where / f".{path.name or 'out'}.probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot write in {where} ({e.strerror})") from None
