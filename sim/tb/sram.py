"""The activation SRAM's read side and control, as cocotb agents: shared by the
testbenches of :class:`hw.act_sram.ActivationSRAM` and :class:`hw.store.BinarizeAndStore`,
which expose the same ports (``clear``, ``count``, ``overflow``, ``rd_addr``,
``rd_data``, ``replay``, ``busy`` and the replay stream ``o``)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from cocotb.triggers import ReadOnly, RisingEdge

from .stream import TB, Expect, Scoreboard, StreamMonitor, beats_budget, read


class SramReader:
    """Checks a memory's contents by address reads and by a replay.

    Parameters
    ----------
    tb : TB
        The testbench (its ``dut`` has the SRAM's ports).
    word_bits : int
        Width of ``rd_data`` and of the replay payload's ``data`` (``last`` above it).
    read_latency : int
        Cycles from ``rd_addr`` to ``rd_data`` (1 or 2).
    """

    def __init__(self, tb: TB, word_bits: int, read_latency: int = 1) -> None:
        self.tb = tb
        self.dut = tb.dut
        self.word_bits = word_bits
        self.read_latency = read_latency
        self.monitor = StreamMonitor(tb, "o")
        self.reads = 0
        self.replayed = 0

    def idle(self) -> None:
        self.dut.clear.value = 0
        self.dut.replay.value = 0
        self.dut.rd_addr.value = 0
        self.monitor.idle()

    async def status(self) -> tuple[int, int]:
        """``(count, overflow)`` now; returns just after the next edge."""
        await ReadOnly()
        status = read(self.dut.count), read(self.dut.overflow)
        await RisingEdge(self.dut.clk)
        return status

    async def wait_count(self, n: int, within: int) -> None:
        """Wait until ``count`` reaches ``n`` (the last beat's word lands a few cycles
        after the input handshake); returns just after an edge."""
        for _ in range(within):
            await ReadOnly()
            count = read(self.dut.count)
            await RisingEdge(self.dut.clk)
            if count >= n:
                return
        raise AssertionError(f"count is {count}, not {n}, {within} cycles after the last beat")

    async def clear(self) -> None:
        """Pulse ``clear``; the write side must be empty in the next cycle."""
        await self.tb.pulse(self.dut.clear)
        assert await self.status() == (0, 0), "count/overflow not zero after clear"

    async def read_words(self, addrs: Sequence[int]) -> list[int]:
        """Words at ``addrs``, one read per cycle (``rd_data`` shows the word of the
        address set ``read_latency`` cycles earlier). Not while a replay is busy."""
        out: list[int] = []
        for i in range(len(addrs) + self.read_latency):
            if i < len(addrs):
                self.dut.rd_addr.value = addrs[i]
            await ReadOnly()
            if i >= self.read_latency:
                out.append(read(self.dut.rd_data))
            await RisingEdge(self.dut.clk)
        return out

    async def check(
        self,
        words: Sequence[int],
        overflow: bool,
        rng: random.Random,
        stall: float,
        reads: int | None = None,
    ) -> None:
        """Check that the memory holds exactly ``words`` (``count``, ``overflow``,
        address reads of ``reads`` random addresses (all by default) and a replay whose
        consumer stalls with probability ``stall``). Returns just after an edge."""
        n = len(words)
        assert await self.status() == (n, int(overflow)), f"expected count {n}, overflow {overflow}"
        if not n:
            return
        addrs = [rng.randrange(n) for _ in range(n if reads is None else reads)]
        got = await self.read_words(addrs)
        for a, w in zip(addrs, got, strict=True):
            assert w == words[a], f"word {a} read back as {w:#x}, expected {words[a]:#x}"
        self.reads += len(addrs)
        await self.replay(words, stall)

    async def replay(self, words: Sequence[int], stall: float) -> None:
        """Pulse ``replay`` and compare the stream with ``words`` (``last`` on the final
        one); then ``busy`` must drop and nothing more may come."""
        n = len(words)
        top = 1 << self.word_bits
        expected = [w | (top if k == n - 1 else 0) for k, w in enumerate(words)]
        mon = self.monitor
        mon.stall, mon.limit, mon.taken = stall, n, 0
        mon.start()
        await self.tb.pulse(self.dut.replay)
        sb = Scoreboard(self.tb, "replay", mon, lambda k, _b: Expect(expected[k]))
        await sb.check(n, beats_budget(n, (0, stall)) + 4)
        mon.limit = None  # keep taking: a word beyond the final one would show
        for cycle in range(1, 5):
            await ReadOnly()
            assert not read(self.dut.busy), f"busy still high {cycle} cycles after the final word"
            await RisingEdge(self.dut.clk)
        mon.stop()
        assert mon.queue.empty(), f"{mon.queue.qsize()} words beyond count were replayed"
        self.replayed += n


def tensor_lengths(
    rng: random.Random, lanes: int, word_bits: int, depth: int, budget: int, overflow: bool
) -> list[int]:
    """Element counts of one round's tensors (ragged, whole words, whole beats) that
    fill more than ``depth`` words when ``overflow``, and take at most ``budget`` beats
    (the last one is cut to fit)."""
    target = rng.randint(depth + 1, depth + 4) if overflow else rng.randint(1, depth)
    lengths: list[int] = []
    words = 0
    while words < target and budget > 0:
        kind = rng.randrange(3)
        if kind == 0:
            n = rng.randint(1, 4 * word_bits)
        elif kind == 1:
            n = rng.randint(1, 3) * word_bits
        else:
            n = rng.randint(1, 4 * word_bits // lanes) * lanes
        beats = -(-n // lanes)
        if beats > budget:
            n, beats = budget * lanes, budget
        lengths.append(n)
        budget -= beats
        words += -(-n // word_bits)
    return lengths
