"""Cosimulation of :class:`hw.engine.Engine` on Verilator, from pixels to logits: the
golden WRN-8-1 digits network on its six golden images and the trained WRN-20-1 on
three real CIFAR-10 test images (golden/intnet; with ``SBQ_ENGINE_FULL=1``, as it
takes minutes), logits equal to
:func:`model.infer.run`'s, with random stalls on both streams, and the cycles per image
against the schedule of :class:`spec.engine.EngineSpec`."""

from __future__ import annotations

import os
from typing import Any

import cocotb
import pytest
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

import golden
from golden.network import CIFAR_NETWORK, NETWORK
from hw.engine import Engine
from model.intnet import load
from spec.engine import EngineSpec

from .tb.config import Build
from .tb.stream import TB, StreamDriver, read
from .tb.toolchain import cosim, parametrize

BLOCK = "engine"
CASES = {c.name: c for c in golden.cases("intnet")}
NETWORKS = {"wrn8_1_digits": NETWORK, "wrn20_1_cifar10": CIFAR_NETWORK}
#: Set to 1 to run the full-size WRN-20-1 build too (about 5 minutes on 2 cores).
FULL_ENV = "SBQ_ENGINE_FULL"
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
    def __init__(self, dut: Any, test: str) -> None:
        super().__init__(dut, test)
        self.pixels = StreamDriver(self, "pixels", stall=0.2)

    def idle(self) -> None:
        self.pixels.idle()
        self.dut.logits__ready.value = 0

    async def logits(self, n: int, bits: int) -> tuple[list[int], int]:
        """Take ``n`` logits with random back-pressure; returns them and the cycle the
        last one was taken in."""
        got: list[int] = []
        if not read(self.dut.logits__valid):  # the whole network: wait in the simulator
            await RisingEdge(self.dut.logits__valid)
            await FallingEdge(self.dut.clk)
        while len(got) < n:
            ready = self.rng.random() < 0.7
            self.dut.logits__ready.value = ready
            await ReadOnly()
            if ready and read(self.dut.logits__valid):
                value = read(self.dut.logits__payload)
                got.append(value - (1 << bits) if value >> (bits - 1) else value)
            await RisingEdge(self.dut.clk)
        self.dut.logits__ready.value = 0
        return got, self.cycle()


@cocotb.test()
async def golden_images(dut: Any) -> None:
    """Every image of the network's golden case, one after the other."""
    tb = EngineTB(dut, "golden_images")
    await tb.reset()
    net = load(NETWORKS[tb.params["net"]])
    case = CASES[tb.params["net"]]
    images, want = case.arrays["images"], case.arrays["logits"]
    cycles = []
    for image, logits in zip(images, want, strict=True):
        start = tb.cycle()
        await tb.pixels.send(int(v) for v in image.transpose(1, 2, 0).ravel())
        got, end = await tb.logits(net.spec.num_classes, net.spec.logit_bits)
        assert got == [int(v) for v in logits], (got, list(logits))
        cycles.append(end - start)
        for _ in range(3):
            await RisingEdge(dut.clk)
    tb.record(images=len(images), logits=len(images) * net.spec.num_classes,
              max_cycles=max(cycles), min_cycles=min(cycles))  # fmt: skip


@pytest.mark.parametrize(("sim", "build"), parametrize(BUILDS))
def test_engine(sim: str, build: Build) -> None:
    if build.dut["net"] != "wrn8_1_digits" and os.environ.get(FULL_ENV) != "1":
        pytest.skip(f"the full-size network takes about 5 minutes here: {FULL_ENV}=1 runs it")
    counts = cosim(block=BLOCK, sim=sim, build=build, make_dut=lambda: make_dut(build.dut),
                   module=__name__)  # fmt: skip
    got = counts["golden_images"]
    n = len(CASES[build.dut["net"]].arrays["images"])
    assert (got["images"], got["logits"]) == (n, 10 * n)
    schedule = EngineSpec(lanes=build.dut["lanes"]).cycles(load(NETWORKS[build.dut["net"]]).spec)
    # Busy time per image: the schedule (exact unstalled) plus the streams' stalls.
    assert schedule <= got["min_cycles"] and got["max_cycles"] <= 1.1 * schedule, (got, schedule)
