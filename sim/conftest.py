"""Cosimulation session set-up: the tool environment, the base seed in the header, and
a summary of what the cosimulations checked, per simulator and block."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .tb import toolchain
from .tb.config import SEED_ENV, WAVES_ENV

toolchain.setup_environment()


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
