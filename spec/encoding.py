"""SPEC section 2: how activations and weights are encoded as integers and bits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ._base import SpecBase, check_int

#: Widest activation code the datapath and binarizer support (SPEC section 2).
MAX_ACT_BITS = 16

#: What training keeps for backward (SPEC section 10): plain PyTorch tensors (``fp32``),
#: or per element an exact sign bit and a 1-bit magnitude code, chosen stochastically
#: (``stoch``, unbiased), by a threshold at half the per-channel maximum (``det``, the
#: ablation of SPEC section 3), or by the per-channel threshold and level of least
#: squared error (``det_mse``, the fairest deterministic 1-bit code).
SAVE_MODES = ("fp32", "stoch", "det", "det_mse")

#: Elements per chunk of the bit-saving layers' work (2 MiB in float32): small enough that
#: a chunk's temporaries stay in a core's L2 cache, large enough for the convolution
#: kernels. The estimator's peak-memory model reads it too.
TRAIN_CHUNK_ELEMENTS = 1 << 19


@dataclass(frozen=True)
class ActivationEncoding(SpecBase):
    """Unsigned ``act_bits``-bit activation codes.

    An unsigned activation ``a`` is stored as ``q`` with ``a = scale * q / 2**B``. A
    signed tensor is stored in offset binary: ``q = clamp(floor((x/c + 1) * 2**(B-1)),
    0, 2**B - 1)`` so that ``x ~ c * (2q / 2**B - 1)``. A stored bit ``b`` means
    ``scale * b`` (unsigned) or ``c * (2b - 1)`` (signed).

    Parameters
    ----------
    act_bits : int
        Code width B, 1..16.

    Raises
    ------
    ValueError
        ``act_bits`` outside 1..16.
    """

    act_bits: int = 8

    def __post_init__(self) -> None:
        check_int("act_bits", self.act_bits, 1, MAX_ACT_BITS)

    @property
    def levels(self) -> int:
        """Number of codes, ``2**act_bits``."""
        return 1 << self.act_bits

    @property
    def max_code(self) -> int:
        """Largest code, ``2**act_bits - 1``."""
        return self.levels - 1


@dataclass(frozen=True)
class WeightEncoding(SpecBase):
    """One-bit weights: bit 1 means +1, bit 0 means -1, times a fixed per-layer scale.

    ``W_hat = alpha * (2w - 1)`` with ``alpha = sqrt(2 / fan_in)`` (He et al. 2015
    initialisation scale, fixed rather than learned, as in McDonnell 2018).

    A convolution filter (one output channel) is one dot product: its bits go in
    :attr:`FILTER_ORDER`, input channel fastest, the NHWC order of the activation window
    it meets (:class:`spec.PackingSpec`), packed LSB first into words, each filter
    starting a new word. A weight exactly 0 gets bit 1.
    """

    #: Axes of a filter's bitstream, slowest first: kernel row, kernel column, input channel.
    FILTER_ORDER: ClassVar[tuple[str, ...]] = ("kh", "kw", "in")

    one_is_positive: bool = True

    def __post_init__(self) -> None:
        if self.one_is_positive is not True:
            raise ValueError("one_is_positive must be True: SPEC section 2 fixes bit 1 = +1")

    @staticmethod
    def alpha(fan_in: int) -> float:
        """Per-layer weight scale ``sqrt(2 / fan_in)``; ``fan_in`` must be positive."""
        check_int("fan_in", fan_in, 1)
        return math.sqrt(2.0 / fan_in)
