"""What the training code keeps for backward: stochastic bits, packed 8 per byte.

One binarization path serves training and the bit-accurate model (SPEC section 10):
:func:`binarize_unit` compares a probability ``p`` in ``[0, 1]`` with a uniform ``r`` through
:func:`model.binarize.threshold`, the comparator the gateware model uses. With ``q = p * 2**B``,
training draws ``B = 16``-bit ``r`` from torch's RNG (fast; ``P(b = 1)`` is within
``2**-16`` of ``p``); given a :class:`spec.BinarizerSpec`, ``r`` is the LFSR bank's
``act_bits``-bit codes, and with ``p = q / 2**act_bits`` that is the gateware's ``r < q``
bit for bit.

Bits are packed LSB first, element ``k`` in bit ``k % 8`` of byte ``k // 8``: SPEC section 5
with 8-bit words.

>>> bits = torch.tensor([True, False, True, True, False, False, False, False, True])
>>> pack(bits).tolist()
[13, 1]
>>> unpack(pack(bits), bits.shape).equal(bits)
True
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from contextvars import ContextVar

import numpy as np
import torch

from spec import BinarizerSpec, WeightEncoding

from ..binarize import threshold
from ..lfsr import CodeStream

__all__ = [
    "TRAIN_BITS",
    "binarize_unit",
    "binarized",
    "binary_weight",
    "pack",
    "random_source",
    "unpack",
    "unpack_float",
]

#: Bits of the random numbers the training path draws (the widest code SPEC 2 allows).
TRAIN_BITS = 16

# SPEC 5 packing with 8-bit words as one multiply: the 8 bytes (each 0 or 1) of an int64,
# times this constant, land bit-for-bit in its top byte (every partial product has its
# own position, so nothing carries). And back: a byte copied to all 8 bytes, masked so
# that byte k keeps only bit k. Both need a little-endian machine.
_GATHER = 0x0102040810204080
_SPREAD = 0x0101010101010101
_SELECT = 0x8040201008040201 - (1 << 64)  # as a signed int64
if sys.byteorder != "little":  # pragma: no cover - every torch platform today
    raise ImportError("model.nn.quant packs bits through int64 views: little-endian only")

_SOURCE: ContextVar[CodeStream | None] = ContextVar("sbq_random_source", default=None)


@contextlib.contextmanager
def random_source(stream: CodeStream | None) -> Iterator[None]:
    """Within the block, :func:`binarize_unit` calls that name neither ``lfsr`` nor
    ``generator`` draw ``r`` from ``stream``, one call after another (``None``: torch's
    RNG). This is how a network is trained on a gateware random source without every
    layer carrying it (``python -m model.train --random``)."""
    token = _SOURCE.set(stream)
    try:
        yield
    finally:
        _SOURCE.reset(token)


def binarize_unit(
    p: torch.Tensor,
    *,
    deterministic: bool = False,
    lfsr: BinarizerSpec | CodeStream | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One bit per element of ``p`` (``bool``): SPEC 3's ``r < q`` with ``q = p * 2**B``.

    Parameters
    ----------
    p : torch.Tensor
        Probabilities in ``[0, 1]`` (float).
    deterministic : bool
        The ablation of SPEC section 3: ``b = 1`` iff ``p >= 1/2``.
    lfsr : spec.BinarizerSpec or model.lfsr.CodeStream, optional
        Draw ``r`` from its random source (``B = act_bits``), in the C order of ``p``
        (element ``k`` meets the bank's ``k``-th code): a spec's codes from its seed on, a
        stream's from where it stands (it moves on). With ``p = q / 2**act_bits`` for
        integer codes ``q`` the bits are the gateware's. Without ``lfsr`` or
        ``generator``, the stream of an enclosing :func:`random_source`, if any.
    generator : torch.Generator, optional
        Otherwise ``r`` is :data:`TRAIN_BITS` random bits from torch's RNG (this
        generator, or the default one); then ``P(b = 1) = ceil(p * 2**16) / 2**16``,
        within ``2**-16`` of ``p`` and exact at 0 and 1.
    """
    if deterministic:
        return p >= 0.5
    if lfsr is None and generator is None:
        lfsr = _SOURCE.get()
    if lfsr is not None:
        stream = lfsr if isinstance(lfsr, CodeStream) else CodeStream(lfsr)
        r = torch.from_numpy(stream.take(p.numel()).astype(np.int32))
        r = r.to(p.device).reshape(p.shape)
        return threshold(p * (1 << stream.spec.act_bits), r)
    # 16-bit r, offset by 2**15 on both sides so that r is the int16 view of random int64
    # words (four draws per word). `random_()` without bounds leaves an int64's sign bit
    # 0; the explicit full range does not.
    words = torch.empty(-(-p.numel() // 4), dtype=torch.int64, device=p.device)
    words.random_(-(1 << 63), None, generator=generator)
    r = words.view(torch.int16)[: p.numel()].view(p.shape)
    half = 1 << (TRAIN_BITS - 1)
    return threshold(p * (1 << TRAIN_BITS) - half, r)


def _bytes_of_8(bits: torch.Tensor) -> torch.Tensor:
    """``bits`` flattened and zero-padded to a multiple of 8, as ``uint8``."""
    flat = bits.reshape(-1)
    if flat.dtype != torch.bool:
        raise TypeError(f"bits must be a bool tensor, not {flat.dtype}")
    tail = -flat.numel() % 8
    if tail:
        flat = torch.cat([flat, flat.new_zeros(tail)])
    return flat.view(torch.uint8)


def pack(bits: torch.Tensor) -> torch.Tensor:
    """Pack a ``bool`` tensor (any shape, C order) into ``ceil(n / 8)`` ``uint8`` bytes."""
    words = _bytes_of_8(bits).view(torch.int64)
    return ((words * _GATHER) >> 56).to(torch.uint8)


def unpack(packed: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`pack`: the ``bool`` tensor of ``shape`` held in ``packed``."""
    n = math.prod(shape)
    spread = (packed.to(torch.int64) * _SPREAD) & _SELECT
    return (spread.view(torch.uint8)[:n] != 0).view(shape)


_BIT_TABLES: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def unpack_float(
    packed: torch.Tensor, shape: torch.Size | tuple[int, ...], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Inverse of :func:`pack` straight to numbers: ``0.0``/``1.0`` of ``dtype`` in ``shape``.

    One table look-up per byte (row ``v`` of a 256 x 8 table holds the bits of ``v``),
    so a decoder that multiplies the bits by a scale needs no ``bool`` tensor between.

    >>> unpack_float(torch.tensor([13], dtype=torch.uint8), (5,)).tolist()
    [1.0, 0.0, 1.0, 1.0, 0.0]
    """
    key = (dtype, packed.device)
    table = _BIT_TABLES.get(key)
    if table is None:
        v = torch.arange(256).unsqueeze(1)
        table = ((v >> torch.arange(8)) & 1).to(dtype=dtype, device=packed.device)
        _BIT_TABLES[key] = table
    n = math.prod(shape)
    return table.index_select(0, packed.reshape(-1).long()).view(-1)[:n].view(shape)


class BinaryWeightFn(torch.autograd.Function):
    """``alpha * sign(w)`` (``w >= 0`` gives ``+alpha``), gradient straight through."""

    @staticmethod
    def forward(ctx: object, w: torch.Tensor) -> torch.Tensor:
        return binarized(w)

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:
        return g


def binarized(w: torch.Tensor) -> torch.Tensor:
    """SPEC section 2 weights: ``alpha * (2b - 1)`` with ``b = w >= 0`` and
    ``alpha = sqrt(2 / fan_in)``, ``fan_in`` being every axis but the first."""
    alpha = WeightEncoding.alpha(w[0].numel())
    return torch.where(w >= 0, alpha, -alpha).to(w.dtype)


def binary_weight(w: torch.Tensor) -> torch.Tensor:
    """Binary weights for training: :func:`binarized` forward, straight-through backward
    to the latent full-precision ``w`` (McDonnell 2018)."""
    return BinaryWeightFn.apply(w)
