"""``python -m bench.lfsr``: random codes per second of the vectorised LFSR models.

Times :func:`model.lfsr.codes` for each random source (an LFSR per lane, and the shared
LFSR of ``docs/formats.md`` section 3b) and lanes x act_bits and, in the same run, a
plain bit-by-bit Python stepper on a smaller count, so the speed-up is a ratio measured
under the same machine load. Prints a table; writes ``bench/results/lfsr.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from model.lfsr import codes
from spec import SOURCES, BinarizerSpec, LfsrSpec

from ._report import parse_args, save, table

#: The issue's floor for lanes=32, act_bits=8 on one core.
TARGET_CODES_PER_S = 1e7


def _best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _bitwise_codes(seed: int, act_bits: int, n: int) -> list[int]:
    """One lane, one bit per Python step: the obvious implementation, for the ratio."""
    mask, s, out = LfsrSpec().mask, seed, []
    for _ in range(n):
        r = 0
        for b in range(act_bits):
            bit = s & 1
            r |= bit << b
            s >>= 1
            if bit:
                s ^= mask
        out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.lfsr", description=__doc__)
    parser.add_argument("-n", type=int, default=10**7, help="codes per timing (default 1e7)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/lfsr.json)")
    args = parse_args(parser, argv, "lfsr")
    if args.n < 1 or args.repeats < 1:
        parser.error("-n and --repeats must be positive")
    slow_n = 20_000
    slow_s = _best_of(1, lambda: _bitwise_codes(0xACE1, 8, slow_n))
    slow_rate = slow_n / slow_s
    rows = []
    for source in SOURCES:
        for lanes in (1, 8, 32):
            for act_bits in (1, 4, 8):
                spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=0xACE1, source=source)
                codes(spec, 1)  # the shared source's output map, built once, is not timed
                dt = _best_of(args.repeats, lambda s=spec: codes(s, args.n))
                rate = args.n / dt
                rows.append(
                    {
                        "source": source,
                        "lanes": lanes,
                        "act_bits": act_bits,
                        "n": args.n,
                        "seconds": round(dt, 4),
                        "codes_per_s": round(rate),
                        "vs_bitwise_python": round(rate / slow_rate, 1),
                    }
                )
                print(f"  {source:6s} lanes={lanes:2d} act_bits={act_bits}: {rate:.3g} codes/s",
                      file=sys.stderr)  # fmt: skip
    print(table(rows, list(rows[0])))
    print(f"bitwise Python stepper (8-bit codes): {slow_rate:.3g} codes/s")
    for main_row in (r for r in rows if r["lanes"] == 32 and r["act_bits"] == 8):
        ok = main_row["codes_per_s"] >= TARGET_CODES_PER_S
        print(
            f"{main_row['source']}, lanes=32 act_bits=8: {main_row['codes_per_s']:.3g} codes/s "
            f"({'meets' if ok else 'MISSES'} the 1e7 target)"
        )
    path = save("lfsr", rows, args.out, bitwise_python_codes_per_s=round(slow_rate))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
