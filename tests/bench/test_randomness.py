"""bench.randomness: both random sources within the sample-size bounds on every line,
and each line able to fail (a source with a planted flaw fails exactly its line)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.randomness import BIAS_CODES, LAGS, compare, scores

BEATS = 1 << 14


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return compare(lanes=32, act_bits=8, beats=BEATS, seed=0x5EED)


def test_both_sources_pass_every_line(rows):
    assert len(rows) == len(BIAS_CODES) + 2 + len(LAGS) + 1
    for row in rows:
        assert row["lanes_passes"] and row["shared_passes"], row


def _failing(r: np.ndarray) -> set[str]:
    return {line["line"] for line in scores(r, 8) if not line["passes"]}


def test_each_flaw_fails_its_line():
    rng = np.random.default_rng(1)
    good = rng.integers(0, 256, size=(BEATS, 32))
    assert _failing(good) == set()
    copied = good.copy()
    copied[:, 5] = copied[:, 9] ^ (rng.random(BEATS) < 0.5)  # lane 5 tracks lane 9
    assert _failing(copied) == {"lane pairs: codes (496 pairs)", "lane pairs: bits at q=77"}
    lagged = good.copy()
    lagged[7:, 3] = np.where(rng.random(BEATS - 7) < 0.2, lagged[:-7, 3], lagged[7:, 3])
    assert _failing(lagged) == {"lag 7 within a lane"}
    biased = np.where(rng.random(good.shape) < 0.01, 255, good)  # a stuck-high code now and then
    assert "chi-square of codes (256 cells)" in _failing(biased)
    assert "bias of P(b=1), q=255" in _failing(biased)
