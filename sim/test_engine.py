"""Cosimulation of :class:`hw.engine.Engine` on Verilator, from pixels to logits: the
golden WRN-8-1 digits network (8 lanes) on its six golden images and the trained
WRN-20-1 (16 lanes, the default) on ten real CIFAR-10 test images, one per class
(golden/intnet), logits equal to :func:`model.infer.run`'s, with random stalls on both
streams, and the cycles per image against the schedule of
:class:`spec.engine.EngineSpec`. About a
minute and a half here, builds included; ``python -m bench.inference`` runs more
images."""

from __future__ import annotations

from typing import Any

import cocotb
import pytest
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

import golden
from golden.network import CIFAR_NETWORK, NETWORK
from hw.engine import Engine
from model.intnet import load
from spec import IntNetSpec
from spec.engine import EngineSpec

from .tb.config import Build
from .tb.stream import TB, StreamDriver, read
from .tb.toolchain import LONG_RUN_OPT, cosim, parametrize

BLOCK = "engine"
CASES = {c.name: c for c in golden.cases("intnet")}
NETWORKS = {"wrn8_1_digits": NETWORK, "wrn20_1_cifar10": CIFAR_NETWORK}
#: Verilator only: a whole network is too many cycles for Icarus in a test run.
BUILDS = {
    "verilator": [
        Build({"net": "wrn8_1_digits", "lanes": 8}, ("wrn8_1_digits",)),
        Build({"net": "wrn20_1_cifar10", "lanes": 16}, ("wrn20_1_cifar10",)),
    ]
}


def make_dut(dut: dict[str, Any]) -> Engine:
    return Engine(load(NETWORKS[dut["net"]]), EngineSpec(lanes=dut["lanes"]))


class EngineTB(TB):
    """Drives the pixels and takes the logits, each stream stalled in a cycle with
    probability ``stall``."""

    def __init__(self, dut: Any, test: str, stall: float = 0.2) -> None:
        super().__init__(dut, test)
        self.stall = stall
        self.pixels = StreamDriver(self, "pixels", stall=stall)

    def idle(self) -> None:
        self.pixels.idle()
        self.dut.logits__ready.value = 0

    async def logits(self, n: int, bits: int) -> tuple[list[int], int]:
        """Take ``n`` logits; returns them and the cycle the last one was taken in."""
        got: list[int] = []
        if not read(self.dut.logits__valid):  # the whole network: wait in the simulator
            await RisingEdge(self.dut.logits__valid)
            await FallingEdge(self.dut.clk)
        while True:
            ready = self.rng.random() >= self.stall
            self.dut.logits__ready.value = ready
            await ReadOnly()
            if ready and read(self.dut.logits__valid):
                value = read(self.dut.logits__payload)
                got.append(value - (1 << bits) if value >> (bits - 1) else value)
                if len(got) == n:
                    last = self.cycle()
                    await RisingEdge(self.dut.clk)
                    self.dut.logits__ready.value = 0
                    return got, last
            await RisingEdge(self.dut.clk)

    async def classify(self, images: Any, net: IntNetSpec) -> tuple[list[list[int]], list[int]]:
        """The logits of each NCHW image, and its cycles from its first pixel taken to
        its last logit taken (both counted)."""
        out, cycles = [], []
        for image in images:
            first = len(self.pixels.stamps)
            await self.pixels.send(int(v) for v in image.transpose(1, 2, 0).ravel())
            got, last = await self.logits(net.num_classes, net.logit_bits)
            out.append(got)
            cycles.append(last - self.pixels.stamps[first] + 1)
            for _ in range(3):
                await RisingEdge(self.dut.clk)
        return out, cycles


@cocotb.test()
async def golden_images(dut: Any) -> None:
    """Every image of the network's golden case, one after the other."""
    tb = EngineTB(dut, "golden_images")
    await tb.reset()
    net = load(NETWORKS[tb.params["net"]])
    case = CASES[tb.params["net"]]
    images, want = case.arrays["images"], case.arrays["logits"]
    got, cycles = await tb.classify(images, net.spec)
    assert got == want.tolist(), (got, want)
    tb.record(images=len(images), logits=len(images) * net.spec.num_classes,
              max_cycles=max(cycles), min_cycles=min(cycles))  # fmt: skip


@pytest.mark.parametrize(("sim", "build"), parametrize(BUILDS))
def test_engine(sim: str, build: Build) -> None:
    counts = cosim(block=BLOCK, sim=sim, build=build, make_dut=lambda: make_dut(build.dut),
                   module=__name__, opt=LONG_RUN_OPT)  # fmt: skip
    got = counts["golden_images"]
    n = len(CASES[build.dut["net"]].arrays["images"])
    assert (got["images"], got["logits"]) == (n, 10 * n)
    schedule = EngineSpec(lanes=build.dut["lanes"]).cycles(load(NETWORKS[build.dut["net"]]).spec)
    # The schedule is exact unstalled; stalls of the streams add to it.
    assert schedule <= got["min_cycles"] and got["max_cycles"] <= 1.1 * schedule, (got, schedule)
