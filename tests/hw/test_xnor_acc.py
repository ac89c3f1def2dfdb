# amaranth: UnusedElaboratable=no
"""XnorAccumulator in the Amaranth simulator, against model.xnor_acc.dot and the golden
vectors, with random valid/ready stalls on both streams."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from amaranth.hdl import Fragment

import golden
from hw.xnor_acc import ALL_MODES, XnorAccumulator, beat_layout
from model.xnor_acc import dot, split_beats
from spec import DatapathSpec, Mode

from .streams import consume, produce, run

#: One dot product: its mode, weight bits and operands (1-D, same length).
Job = tuple[Mode, np.ndarray, np.ndarray]


def beat_payloads(spec: DatapathSpec, weights: np.ndarray, acts: np.ndarray) -> list[int]:
    """The raw input beats of one dot product, framed by :func:`split_beats`."""
    layout = beat_layout(spec)
    w, a, valid = split_beats(weights, acts, spec.lanes)
    n = len(w)
    return [
        layout.const(
            {
                "w": int(w[t]),
                "a": [int(x) for x in a[t]],
                "valid": int(valid[t]),
                "first": t == 0,
                "last": t == n - 1,
            }
        ).as_bits()
        for t in range(n)
    ]


def to_signed(x: int, bits: int) -> int:
    """``x`` (a raw or already signed sample) as a signed ``bits``-bit integer."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def simulate(
    dut: XnorAccumulator,
    jobs: Sequence[Job],
    *,
    seed: int,
    stall_in: float = 0.3,
    stall_out: float = 0.3,
) -> tuple[list[int], int]:
    """Send every job (mode set between dot products, as the producer holds it with each
    beat) and collect one sum per job. Returns the sums and the number of beats sent."""
    spec = dut.spec
    beats = [beat_payloads(spec, w, a) for _, w, a in jobs]
    n_beats = sum(len(b) for b in beats)
    sent: list[int] = []
    sums: list[int] = []

    async def producer(ctx: Any) -> None:
        rng = random.Random(seed)
        for (mode, _, _), payloads in zip(jobs, beats, strict=True):
            ctx.set(dut.mode, mode.value)
            sent.append(await produce(ctx, dut.i, payloads, rng, stall_in))

    async def consumer(ctx: Any) -> None:
        rng = random.Random(seed + 1)
        raw = await consume(ctx, dut.o, len(jobs), rng, stall_out)
        sums.extend(to_signed(x, spec.acc_bits) for x in raw)

    slack = 1 / (1 - max(stall_in, stall_out)) + 1
    run(dut, producer, consumer, deadline_cycles=int(50 + 2 * slack * (n_beats + len(jobs))))
    assert sum(sent) == n_beats
    return sums, n_beats


def random_jobs(
    rng: np.random.Generator, spec: DatapathSpec, modes: Sequence[Mode], n: int, max_len: int
) -> list[Job]:
    """``n`` dot products of random lengths 1..max_len (most with a partial last beat),
    each in a mode drawn from ``modes``."""
    jobs = []
    for _ in range(n):
        mode = modes[rng.integers(len(modes))]
        length = int(rng.integers(1, max_len + 1))
        top = (1 << spec.act_bits) if mode is Mode.CODE else 2
        w = rng.integers(0, 2, size=length)
        a = rng.integers(0, top, size=length)
        jobs.append((mode, w, a))
    return jobs


def expected(spec: DatapathSpec, jobs: Sequence[Job]) -> list[int]:
    return [int(dot(w, a, mode, spec)) for mode, w, a in jobs]


# -- golden vectors ---------------------------------------------------------------------

GOLDEN = golden.cases("xnor_acc")


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden(case: golden.GoldenCase) -> None:
    meta = case.meta
    spec = DatapathSpec(
        lanes=meta["lanes"],
        act_bits=meta["act_bits"],
        acc_bits=meta["acc_bits"],
        max_beats=meta["max_beats"],
    )
    mode = Mode[meta["mode"].upper()]
    weights, acts, sums = case.arrays["weights"], case.arrays["acts"], case.arrays["sums"]
    jobs = [(mode, weights[k], acts[k]) for k in range(len(sums))]
    got, n_beats = simulate(XnorAccumulator(spec), jobs, seed=len(case.name))
    assert got == sums.tolist()
    assert len(got) == len(sums) >= 2
    assert n_beats == len(sums) * -(-weights.shape[1] // spec.lanes)


# -- fresh random stimuli ---------------------------------------------------------------


@pytest.mark.parametrize("lanes", [1, 8, 32])
@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.name.lower())
def test_random_lengths(lanes: int, mode: Mode) -> None:
    spec = DatapathSpec(lanes=lanes, act_bits=4, acc_bits=24, max_beats=64)
    rng = np.random.default_rng([lanes, mode.value])
    jobs = random_jobs(rng, spec, [mode], n=12, max_len=5 * lanes + 3)
    got, n_beats = simulate(XnorAccumulator(spec), jobs, seed=lanes + 10 * mode.value)
    assert got == expected(spec, jobs)
    assert len(got) == 12 and n_beats >= 12


@pytest.mark.parametrize(
    "modes",
    [(Mode.XNOR,), (Mode.AND,), (Mode.XNOR, Mode.AND), (Mode.CODE,), (Mode.AND, Mode.CODE)],
    ids=lambda ms: "+".join(m.name.lower() for m in ms),
)
def test_partial_builds(modes: tuple[Mode, ...]) -> None:
    """Builds with fewer modes (the resource benchmark's xnor-only one among them)."""
    spec = DatapathSpec(lanes=8, act_bits=3, acc_bits=16, max_beats=32)
    rng = np.random.default_rng(len(modes) + 7 * modes[0].value)
    jobs = random_jobs(rng, spec, modes, n=16, max_len=40)
    dut = XnorAccumulator(spec, modes=modes)
    got, _ = simulate(dut, jobs, seed=5)
    assert got == expected(spec, jobs)
    assert len(got) == 16


def test_mode_switching() -> None:
    """Every dot product in a mode drawn at random, back to back, one-beat ones included."""
    spec = DatapathSpec(lanes=8, act_bits=8, acc_bits=24, max_beats=64)
    rng = np.random.default_rng(3)
    jobs = random_jobs(rng, spec, list(Mode), n=40, max_len=30)
    got, _ = simulate(XnorAccumulator(spec), jobs, seed=3, stall_in=0.1, stall_out=0.1)
    assert got == expected(spec, jobs)
    assert len(got) == 40
    assert {m for m, _, _ in jobs} == set(Mode)
    assert sum(len(w) <= spec.lanes for _, w, _ in jobs) >= 3  # one-beat dot products


def test_invalid_lanes_ignored() -> None:
    """Lanes with valid = 0 add nothing, whatever they carry (any mask, not only a prefix),
    and xnor/and modes read only bit 0 of each operand."""
    spec = DatapathSpec(lanes=8, act_bits=4, acc_bits=16, max_beats=8)
    layout = beat_layout(spec)
    rng = random.Random(11)
    beats, sums = [], []
    for k in range(24):
        mode = list(Mode)[k % 3]
        w = [rng.randrange(2) for _ in range(8)]
        a = [rng.randrange(16) for _ in range(8)]  # junk above bit 0 in xnor/and mode
        valid = rng.randrange(256) if k else 0  # the first beat has no valid lane at all
        keep = [j for j in range(8) if valid >> j & 1]
        operand = [a[j] if mode is Mode.CODE else a[j] & 1 for j in keep]
        sums.append(int(dot([w[j] for j in keep], operand, mode, spec)) if keep else 0)
        payload = {"w": sum(b << j for j, b in enumerate(w)), "a": a, "valid": valid}
        beats.append((mode, layout.const({**payload, "first": 1, "last": 1}).as_bits()))
    got: list[int] = []

    async def producer(ctx: Any) -> None:
        r = random.Random(1)
        for mode, payload in beats:
            ctx.set(dut.mode, mode.value)
            await produce(ctx, dut.i, [payload], r, 0.2)

    async def consumer(ctx: Any) -> None:
        raw = await consume(ctx, dut.o, len(beats), random.Random(2), 0.2)
        got.extend(to_signed(x, spec.acc_bits) for x in raw)

    dut = XnorAccumulator(spec)
    run(dut, producer, consumer, deadline_cycles=400)
    assert got == sums
    assert len(got) == 24


# -- timing: latency, throughput, back-pressure -------------------------------------------


@pytest.mark.parametrize("lanes", [1, 32])
def test_one_beat_per_cycle(lanes: int) -> None:
    """With an always-ready consumer every beat is taken in consecutive cycles, in code
    mode too, and each sum appears ``latency`` cycles after its last beat."""
    spec = DatapathSpec(lanes=lanes, act_bits=8, max_beats=16)
    dut = XnorAccumulator(spec)
    rng = np.random.default_rng(lanes)
    jobs = random_jobs(rng, spec, [Mode.CODE, Mode.XNOR], n=10, max_len=3 * lanes)
    jobs += [(Mode.CODE, np.array([1]), np.array([200]))] * 4  # one-beat dot products
    payloads = [beat_payloads(spec, w, a) for _, w, a in jobs]
    accepted: list[int] = []  # cycle of each accepted beat
    last_cycles: list[int] = []
    out_cycles: list[int] = []
    sums: list[int] = []

    async def producer(ctx: Any) -> None:
        for (mode, _, _), beats in zip(jobs, payloads, strict=True):
            for k, p in enumerate(beats):
                ctx.set(dut.mode, mode.value)
                ctx.set(dut.i.payload.as_value(), p)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
                if k == len(beats) - 1:
                    last_cycles.append(len(accepted))
                accepted.append(1)
        ctx.set(dut.i.valid, 0)

    async def monitor(ctx: Any) -> None:
        ctx.set(dut.o.ready, 1)
        cycle = 0
        while len(sums) < len(jobs):
            _, _, iv, ir, ov, payload = await ctx.tick().sample(
                dut.i.valid, dut.i.ready, dut.o.valid, dut.o.payload
            )
            assert not iv or ir, "back-pressure with a ready consumer"
            if ov:
                out_cycles.append(cycle)
                sums.append(to_signed(payload, spec.acc_bits))
            cycle += 1

    run(dut, producer, monitor, deadline_cycles=2000)
    assert sums == expected(spec, jobs)
    n_beats = sum(len(b) for b in payloads)
    assert len(accepted) == n_beats
    assert len(out_cycles) == len(jobs)
    assert [o - t for o, t in zip(out_cycles, last_cycles, strict=True)] == [dut.latency] * len(
        jobs
    )


def test_output_stall_holds_everything() -> None:
    """A consumer that never takes the first sum stops the input after the pipeline
    fills, and nothing is lost or duplicated when it resumes."""
    spec = DatapathSpec(lanes=8, act_bits=4, acc_bits=16, max_beats=8)
    dut = XnorAccumulator(spec)
    rng = np.random.default_rng(9)
    jobs = random_jobs(rng, spec, list(Mode), n=6, max_len=8)  # one beat each
    payloads = [beat_payloads(spec, w, a) for _, w, a in jobs]
    sums: list[int] = []
    taken: list[int] = []

    async def producer(ctx: Any) -> None:
        for (mode, _, _), beats in zip(jobs, payloads, strict=True):
            ctx.set(dut.mode, mode.value)
            taken.append(await produce(ctx, dut.i, beats, random.Random(0), 0.0))

    async def consumer(ctx: Any) -> None:
        ctx.set(dut.o.ready, 0)
        for _ in range(30):
            await ctx.tick()
        # the held sum stays put; the input has taken exactly the pipeline's worth
        assert ctx.get(dut.o.valid)
        assert len(taken) == dut.latency
        sums.extend(
            to_signed(x, spec.acc_bits)
            for x in await consume(ctx, dut.o, len(jobs), random.Random(4), 0.5)
        )

    run(dut, producer, consumer, deadline_cycles=300)
    assert sums == expected(spec, jobs)
    assert len(sums) == 6


# -- mode errors and bad parameters ------------------------------------------------------


@pytest.mark.parametrize(
    ("modes", "bad"),
    [((Mode.XNOR,), Mode.CODE.value), ((Mode.CODE,), Mode.AND.value), (ALL_MODES, 3)],
    ids=["code-in-xnor-build", "and-in-code-build", "mode-3"],
)
def test_unbuilt_mode_sets_error(modes: tuple[Mode, ...], bad: int) -> None:
    spec = DatapathSpec(lanes=4, act_bits=2, acc_bits=16, max_beats=8)
    dut = XnorAccumulator(spec, modes=modes)
    good = beat_payloads(spec, np.array([1, 0, 1]), np.array([1, 1, 0]))
    flags: list[int] = []

    async def producer(ctx: Any) -> None:
        rng = random.Random(0)
        ctx.set(dut.mode, modes[0].value)
        await produce(ctx, dut.i, good * 2, rng, 0.0)
        await ctx.tick().repeat(2)
        flags.append(ctx.get(dut.error))
        ctx.set(dut.mode, bad)
        await produce(ctx, dut.i, good, rng, 0.0)
        await ctx.tick()
        flags.append(ctx.get(dut.error))
        ctx.set(dut.mode, modes[0].value)
        await produce(ctx, dut.i, good, rng, 0.0)
        await ctx.tick()
        flags.append(ctx.get(dut.error))  # sticky

    async def consumer(ctx: Any) -> None:
        raw = await consume(ctx, dut.o, 4, random.Random(1), 0.0)
        sums.extend(to_signed(x, spec.acc_bits) for x in raw)

    sums: list[int] = []
    run(dut, producer, consumer, deadline_cycles=100)
    assert flags == [0, 1, 1]
    want = int(dot([1, 0, 1], [1, 1, 0], modes[0], spec))
    assert len(sums) == 4
    assert sums[:2] + sums[3:] == [want] * 3  # the bad beat's own sum is unspecified


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"spec": 32}, TypeError, "spec must be a DatapathSpec, not 32"),
        ({"modes": ()}, ValueError, r"modes must name at least one Mode, not \(\)"),
        ({"modes": Mode.XNOR}, TypeError, "modes must be an iterable of Mode"),
        ({"modes": ("xnor",)}, TypeError, "modes must hold Mode values, not 'xnor'"),
        ({"modes": (Mode.AND, Mode.AND)}, ValueError, "modes must not repeat a mode"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        XnorAccumulator(**kwargs)


def test_spec_refuses_overflowing_accumulator() -> None:
    """The spec, which the constructor reads, refuses a dot product that could overflow."""
    with pytest.raises(ValueError, match="beyond the 16-bit accumulator"):
        XnorAccumulator(DatapathSpec(lanes=32, act_bits=8, acc_bits=16, max_beats=5))


def elaborated(spec: DatapathSpec, modes: tuple[Mode, ...] = ALL_MODES) -> XnorAccumulator:
    dut = XnorAccumulator(spec, modes=modes)
    Fragment.get(dut, None)  # elaborates (and checks the planned latency)
    return dut


def test_sizes() -> None:
    """The accumulator is as wide as the built modes need, never wider than acc_bits,
    and the latency is the documented one."""
    spec = DatapathSpec(lanes=32, act_bits=8, acc_bits=32, max_beats=4096)
    xnor = elaborated(spec, (Mode.XNOR,))
    assert (xnor.acc_width, xnor.beat_bits, xnor.latency) == (19, 7, 4)  # +-131072, +-32
    full = elaborated(spec)
    assert (full.acc_width, full.beat_bits, full.latency) == (26, 14, 5)  # +-33,423,360
    limit = elaborated(DatapathSpec(lanes=1, act_bits=1, acc_bits=8, max_beats=127))
    assert (limit.acc_width, limit.latency) == (8, 3)
