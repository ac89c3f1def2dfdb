"""A compile cache for Verilator's run-time library: ``verilated.mk``'s ``OBJCACHE``.

Every Verilator build folder compiles the same ``verilated.cpp``, ``verilated_vpi.cpp``,
``verilated_threads.cpp`` and ``verilated_dpi.cpp`` (about 15 s of CPU per build here,
more than most designs' own C++). ``make`` runs ``$(OBJCACHE) $(CXX) ... -c -o X.o
SRC``; this script, named as ``OBJCACHE``, keeps the object and its ``-MMD`` dependency
file of each such compile whose source lies in ``$VERILATOR_ROOT/include``, keyed by the
whole command line, the source's size and time stamp and the compiler binary. Every other
command (the design's own files, the precompiled header) runs unchanged. ``ccache``
would do the same job, but it is not part of this project's set-up.

Usage: ``objcache.py CACHE_DIR COMPILER ARGS...``
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _cacheable(cmd: list[str]) -> tuple[Path, Path] | None:
    """``(object, source)`` of a run-time library compile, else None."""
    root = os.environ.get("VERILATOR_ROOT")
    if not root or "-c" not in cmd or "-o" not in cmd or cmd.index("-o") + 1 >= len(cmd):
        return None
    source = Path(cmd[-1])
    include = Path(root).resolve() / "include"
    if source.suffix != ".cpp" or source.resolve().parent != include:
        return None
    return Path(cmd[cmd.index("-o") + 1]), source


def main(argv: list[str]) -> int:
    cache, cmd = Path(argv[1]), argv[2:]
    found = _cacheable(cmd)
    if found is None:
        return subprocess.call(cmd)
    obj, source = found
    compiler = shutil.which(cmd[0]) or cmd[0]
    stat, cstat = source.stat(), Path(compiler).resolve().stat()
    key = hashlib.sha256(
        json.dumps(
            [cmd, stat.st_size, stat.st_mtime_ns, compiler, cstat.st_size, cstat.st_mtime_ns]
        ).encode()
    ).hexdigest()
    entry = cache / key
    dep = obj.with_suffix(".d")
    if (entry / "obj").exists():
        shutil.copyfile(entry / "obj", obj)
        if (entry / "dep").exists():
            shutil.copyfile(entry / "dep", dep)
        return 0
    rc = subprocess.call(cmd)
    if rc == 0:
        # Fill a private folder, then rename: parallel builds never see half an entry.
        tmp = Path(tempfile.mkdtemp(dir=cache))
        shutil.copyfile(obj, tmp / "obj")
        if dep.exists():
            shutil.copyfile(dep, tmp / "dep")
        try:
            tmp.rename(entry)
        except OSError:  # another build stored it first
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
