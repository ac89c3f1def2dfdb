"""Cosimulation session set-up: the tool environment, the base seed in the header, and
a summary of what the cosimulations checked, per simulator and block.

Under pytest-xdist (``make test`` runs ``pytest -n auto``) the controller fixes the base
seed before its workers start, so that every worker derives its seeds from the one in
the header, and each worker hands its cosimulations' counts back for the summary.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import pytest

from .tb import toolchain
from .tb.config import SEED_ENV, WAVES_ENV

toolchain.setup_environment()

#: The key of a worker's counts in xdist's ``workeroutput``.
_WORKER_RESULTS = "sbq_cosim_results"


def pytest_configure(config: Any) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        os.environ[SEED_ENV] = str(toolchain.session_seed())


def pytest_sessionfinish(session: Any) -> None:
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output[_WORKER_RESULTS] = [list(r) for r in toolchain.RESULTS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    results = getattr(node, "workeroutput", {}).get(_WORKER_RESULTS, [])
    toolchain.RESULTS.extend(tuple(r) for r in results)


def pytest_report_header(config: Any) -> list[str]:
    waves = "on" if toolchain.waves_requested() else f"off (set {WAVES_ENV}=1)"
    sims = ", ".join(f"{sim}: {toolchain.missing(sim) or 'ok'}" for sim in toolchain.SIMULATORS)
    return [
        f"sbq cosim: base seed {SEED_ENV}={toolchain.session_seed()}; waveforms {waves}",
        f"sbq cosim: {sims}",
    ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not toolchain.RESULTS:
        return
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for block, sim, _, counts in toolchain.RESULTS:
        t = totals[sim, block]
        t["builds"] += 1
        t["cocotb tests"] += len(counts)
        t["golden cases"] += counts.get("golden_vectors", {}).get("cases", 0)
        t["golden beats"] += counts.get("golden_vectors", {}).get("beats", 0)
        t["random beats"] += counts.get("random_stimuli", {}).get("beats", 0)
    columns = ["builds", "cocotb tests", "golden cases", "golden beats", "random beats"]
    rows = [["sim", "block", *columns]]
    rows += [
        [sim, block, *(str(t[c]) for c in columns)] for (sim, block), t in sorted(totals.items())
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    terminalreporter.section("sbq cosimulation: transactions checked")
    for r in rows:
        terminalreporter.write_line("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    terminalreporter.write_line(f"replay: {SEED_ENV}={toolchain.session_seed()}")
