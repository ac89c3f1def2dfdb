"""The integer network format: a trained binary-weight WRN-(6n+2)-k as integer-only
arithmetic, the definition the gateware's engine computes bit for bit.

:class:`IntNetSpec` fixes the shape of the network and every integer rule: the layer
table (:meth:`IntNetSpec.convs`), the requantization rule (:func:`requantize`), and the
width of every intermediate with the worst case that bounds it. The numbers of one trained
network (weight bits, per-channel multipliers) live in an ``.npz`` file next to it
(``docs/formats.md``, "Integer network"; read and written by :mod:`model.intnet`).

The rules, for ``Q = 2**act_bits - 1`` and ``R(x; M, C, s) = floor((x * M + C) / 2**s)``
(exact integers; ``C`` carries the rounding, ``2**(s-1)`` for round-half-up):

- the image's ``uint8`` pixels become stem codes ``clamp(R(p; M_c, C_c, s), 0, 255)`` per
  input channel ``c`` (the input batch norm folded in), and the stem convolution pads
  with the code ``zero_code`` (the image value 0 after batch norm) instead of 0;
- a convolution sums ``(2w - 1) * q`` over its window (``w`` the weight bit, ``q`` the
  code; the binary weight's scale ``sqrt(2 / fan_in)`` is folded into the next rule);
- the stem's sum plus a per-channel ``bias`` starts the residual stream ``X``;
- every batch norm + ReLU + the next convolution's activation step is one per-channel
  rule ``q = clamp(R(x; M_c, C_c, s), 0, Q)`` on the stream (first convolution of a block,
  the head) or on the first convolution's sums (second convolution);
- a block adds ``R(A2; m, 2**(s-1), s)`` (one multiplier per layer) to its shortcut:
  the stream itself, or at a stride-2 block the sum of each 3x3 window of the stream
  (stride 2, zero padding; the average pool's 1/9 is folded into the new stream's
  scale) with zero channels appended;
- the head sums its 1x1 convolution over all positions (the global average pool's
  ``1/(H*W)`` folded in) and the head batch norm is the per-class rule
  ``logit = R(T; M_o, C_o, s)`` with no clamp.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import SpecBase, check_int
from .encoding import MAX_ACT_BITS

__all__ = ["ConvLayer", "IntNetSpec", "requantize"]


def requantize(x: int, mult: int, add: int, shift: int, lo: int | None, hi: int | None) -> int:
    """``clamp(floor((x * mult + add) / 2**shift), lo, hi)`` for one integer (``None``:
    no bound on that side): the format's one rounding rule, written out for reference
    (``model.infer`` applies it to arrays).

    >>> requantize(37, 3, 8, 4, 0, 15)  # (111 + 8) // 16 = 7
    7
    >>> requantize(-37, 3, 8, 4, 0, 15)  # (-111 + 8) // 16 = -7, clamped
    0
    """
    y = (x * mult + add) >> shift
    if lo is not None:
        y = max(y, lo)
    if hi is not None:
        y = min(y, hi)
    return y


@dataclass(frozen=True)
class ConvLayer:
    """One convolution of the layer table.

    Attributes
    ----------
    name : str
        The trained module's name (``stem``, ``blocks.3.conv1``, ``head``).
    cin, cout, kernel, stride : int
        Channels, square kernel size, stride (padding is ``kernel // 2``).
    size_in, size_out : int
        Input and output height (= width).
    code_bits : int
        Width of its unsigned input codes.
    """

    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    size_in: int
    size_out: int
    code_bits: int

    @property
    def fan_in(self) -> int:
        """Weights per filter: ``kernel**2 * cin``."""
        return self.kernel * self.kernel * self.cin

    @property
    def acc_bound(self) -> int:
        """Largest ``|sum|`` the convolution can reach: every code at its maximum, every
        weight of the same sign."""
        return self.fan_in * ((1 << self.code_bits) - 1)


@dataclass(frozen=True)
class IntNetSpec(SpecBase):
    """Shape and rules of an integer WRN-(6n+2)-k (McDonnell's, as :mod:`model.nn.wrn`
    trains it).

    Parameters
    ----------
    width : int
        ``k``: stage widths ``16k, 32k, 64k``.
    blocks : int
        ``n``: blocks per stage (3 for WRN-20).
    in_channels, num_classes, image_size : int
        Image channels and classes; image height (= width), divisible by 4.
    act_bits : int
        Width of every hidden activation code (the inputs of every convolution but the
        stem's, whose codes are 8 bits like the image).
    mult_bits : int
        Every multiplier ``M`` is a signed integer of this many bits (a DSP operand).
    stream_bits, logit_bits : int
        Signed widths of the residual stream and of the logits. A network file whose
        worst case (recorded in it) exceeds them is refused when written and read.

    Raises
    ------
    ValueError
        A field out of range.
    """

    width: int = 1
    blocks: int = 3
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32
    act_bits: int = 8
    mult_bits: int = 16
    stream_bits: int = 32
    logit_bits: int = 32

    #: Width of the stem's input codes (the image's pixels).
    INPUT_BITS = 8

    def __post_init__(self) -> None:
        check_int("width", self.width, 1, 64)
        check_int("blocks", self.blocks, 1, 64)
        check_int("in_channels", self.in_channels, 1, 64)
        check_int("num_classes", self.num_classes, 2, 1 << 16)
        check_int("image_size", self.image_size, 4, 1024)
        if self.image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, not {self.image_size}")
        check_int("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        check_int("mult_bits", self.mult_bits, 2, 32)
        check_int("stream_bits", self.stream_bits, 8, 64)
        check_int("logit_bits", self.logit_bits, 8, 64)

    @property
    def stage_channels(self) -> tuple[int, int, int]:
        """Channels of the three stages."""
        return 16 * self.width, 32 * self.width, 64 * self.width

    def convs(self) -> tuple[ConvLayer, ...]:
        """The layer table: every convolution in order (stem, then per block ``conv1``,
        ``conv2``, then the head)."""
        size, cin = self.image_size, self.stage_channels[0]
        out = [ConvLayer("stem", self.in_channels, cin, 3, 1, size, size, self.INPUT_BITS)]
        k = 0
        for stage, cout in enumerate(self.stage_channels):
            for b in range(self.blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                small = size // stride
                bits = self.act_bits
                out.append(ConvLayer(f"blocks.{k}.conv1", cin, cout, 3, stride, size, small, bits))
                out.append(ConvLayer(f"blocks.{k}.conv2", cout, cout, 3, 1, small, small, bits))
                size, cin, k = small, cout, k + 1
        out.append(ConvLayer("head", cin, self.num_classes, 1, 1, size, size, self.act_bits))
        return tuple(out)

    def block_names(self) -> tuple[str, ...]:
        """``blocks.K`` for every block, in order."""
        return tuple(f"blocks.{k}" for k in range(3 * self.blocks))

    def is_pool_block(self, k: int) -> bool:
        """Whether block ``k`` halves the resolution (its shortcut pools)."""
        return k > 0 and k % self.blocks == 0

    @property
    def positions(self) -> int:
        """Positions the global average pool sums: ``(image_size / 4)**2``."""
        return (self.image_size // 4) ** 2
