"""Reference model of the stochastic binarizer (SPEC section 3).

``b = 1`` iff ``r < q``: ``P(b = 1) = q / 2**B`` for a uniform ``r``, so the stored bit
is an unbiased estimate of ``q / 2**B``. The deterministic ablation is ``q >= 2**(B-1)``.
:func:`threshold` is the single comparator: the LFSR model here and the training code
(which draws ``r`` from torch's RNG) both call it.

>>> binarize([0, 255, 128, 128], seed=1, lanes=2, act_bits=8).tolist()
[0, 1, 0, 1]
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from spec import BinarizerSpec

from ._check import int_array
from .lfsr import codes as source_codes

T = TypeVar("T")


def threshold(codes: T, r: T) -> T:
    """The comparator: ``r < codes``, elementwise (numpy arrays or torch tensors)."""
    return r < codes  # type: ignore[operator]


def binarize(
    codes: object,
    *,
    seed: int,
    lanes: int,
    act_bits: int,
    deterministic: bool = False,
    source: str = "lanes",
) -> np.ndarray:
    """One bit per code, as the gateware's binarizer gives it.

    Parameters
    ----------
    codes : array_like of int
        Activation codes in ``0..2**act_bits - 1``; flattened in C order, that order
        being the stream order (element ``k`` is compared with ``r_k``).
    seed, lanes, act_bits : int
        The random source's seed and shape (see :func:`model.lfsr.codes`).
    deterministic : bool
        The ablation: ``b = 1`` iff ``q >= 2**(act_bits-1)``.
    source : str
        The random source, ``"lanes"`` or ``"shared"`` (:class:`spec.BinarizerSpec`).

    Returns
    -------
    numpy.ndarray
        ``uint8`` bits, the shape of ``codes``.
    """
    spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, deterministic=deterministic,
                         source=source)  # fmt: skip
    q = int_array("codes", codes, 0, (1 << act_bits) - 1)
    if spec.deterministic:
        bits = q >= 1 << (act_bits - 1)
    else:
        r = source_codes(spec, q.size).reshape(q.shape)
        bits = threshold(q, r.astype(np.int64))
    return bits.astype(np.uint8)
