"""model.nn.quant: packing, the one binarization path, binary weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.binarize import binarize
from model.lfsr import CodeStream, codes
from model.nn.quant import binarize_unit, binary_weight, pack, random_source, unpack
from model.pack import pack_bits
from spec import BinarizerSpec


@pytest.mark.parametrize("n", [1, 7, 8, 9, 64, 1001])
def test_pack_is_spec_packing_with_8_bit_words(n: int) -> None:
    bits = torch.rand(n, generator=torch.Generator().manual_seed(n)) < 0.5
    packed = pack(bits)
    assert packed.dtype == torch.uint8
    assert packed.tolist() == pack_bits(bits.numpy().astype(np.uint8), 8).tolist()
    assert unpack(packed, (n,)).equal(bits)


def test_unpack_restores_shape() -> None:
    bits = torch.rand(3, 5, 7, 2) < 0.3
    assert unpack(pack(bits), bits.shape).equal(bits)


@pytest.mark.parametrize(("lanes", "act_bits", "seed"), [(1, 8, 1), (8, 4, 0xACE1), (32, 8, 7)])
def test_lfsr_source_gives_the_gateware_bits(lanes: int, act_bits: int, seed: int) -> None:
    rng = np.random.default_rng(lanes)
    q = rng.integers(0, 1 << act_bits, size=(4, 3, 5, 5))
    spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed)
    got = binarize_unit(torch.from_numpy(q / (1 << act_bits)), lfsr=spec)
    want = binarize(q, seed=seed, lanes=lanes, act_bits=act_bits)
    assert got.numpy().astype(np.uint8).tolist() == want.tolist()
    assert 0 < want.sum() < want.size  # the case is not trivial


def test_random_source_serves_calls_in_turn() -> None:
    """Inside ``random_source``, calls without ``lfsr`` take the stream's codes one after
    another (each from a fresh beat); ``generator`` still means torch's RNG."""
    spec = BinarizerSpec(lanes=4, act_bits=8, seed=0xBEEF, source="shared")
    q = np.random.default_rng(1).integers(0, 256, size=(2, 5))  # 10 codes: 3 beats
    p = torch.from_numpy(q / 256)
    want = codes(spec, 24)
    stream = CodeStream(spec)
    with random_source(stream):
        first, second = binarize_unit(p), binarize_unit(p)
        torch_bits = binarize_unit(p, generator=torch.Generator().manual_seed(0))
    assert first.numpy().reshape(-1).tolist() == (want[:10] < q.reshape(-1)).tolist()
    assert second.numpy().reshape(-1).tolist() == (want[12:22] < q.reshape(-1)).tolist()
    assert stream.beat == 6 and torch_bits.shape == p.shape
    again = binarize_unit(p, generator=torch.Generator().manual_seed(0))
    assert again.equal(torch_bits)  # outside the block: torch's RNG


def test_torch_source_is_unbiased() -> None:
    p = torch.tensor([0.0, 0.1, 0.37, 0.5, 0.93, 1.0])
    draws = 20_000
    g = torch.Generator().manual_seed(0)
    mean = binarize_unit(p.expand(draws, -1), generator=g).double().mean(0)
    sigma = torch.sqrt(p * (1 - p) / draws)
    assert (mean - p).abs().le(5 * sigma + 1e-12).all(), mean
    assert mean[0] == 0 and mean[-1] == 1


def test_deterministic_is_threshold_at_half() -> None:
    p = torch.tensor([0.0, 0.49, 0.5, 0.51, 1.0])
    assert binarize_unit(p, deterministic=True).tolist() == [False, False, True, True, True]


def test_binary_weight_forward_and_straight_through() -> None:
    w = torch.tensor([[[[0.3, -0.2], [0.0, -1e-6]]]], requires_grad=True)  # fan_in 4
    out = binary_weight(w)
    alpha = math.sqrt(2 / 4)
    assert out.flatten().tolist() == pytest.approx([alpha, -alpha, alpha, -alpha])
    g = torch.arange(4.0).view_as(w)
    out.backward(g)
    assert w.grad.equal(g)
