"""Reference model of bit packing (SPEC section 5) and the NHWC bitstream order.

Element ``k`` of a bitstream is bit ``k % word_bits`` of word ``k // word_bits``, LSB
first; a partial last word is zero-padded.

>>> pack_bits([1, 0, 1, 1, 0, 0, 0, 0, 1], word_bits=8).tolist()
[13, 1]
>>> unpack_bits([13, 1], n=9, word_bits=8).tolist()
[1, 0, 1, 1, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

import numpy as np

from spec import PackingSpec
from spec._base import check_int

from ._check import int_array

_LAYOUTS = ("NHWC", "NCHW")


def word_dtype(word_bits: int) -> np.dtype:
    """The unsigned little-endian numpy dtype of a ``word_bits``-bit word."""
    PackingSpec(word_bits=word_bits)
    return np.dtype(f"<u{word_bits // 8}")


def pack_bits(bits: object, word_bits: int) -> np.ndarray:
    """Pack a 1-D bitstream into ``ceil(n / word_bits)`` words (unsigned ints)."""
    dtype = word_dtype(word_bits)
    b = int_array("bits", bits, 0, 1)
    if b.ndim != 1:
        raise ValueError(f"bits must be a 1-D bitstream, not shape {b.shape}")
    padded = np.zeros(-(-b.size // word_bits) * word_bits, dtype=np.uint8)
    padded[: b.size] = b
    return np.packbits(padded, bitorder="little").view(dtype).astype(dtype.newbyteorder("="))


def _words(words: object, word_bits: int) -> np.ndarray:
    """``words`` as uint64, each checked to be an integer in ``0..2**word_bits - 1``.

    Python ints are checked one by one: numpy turns a list mixing values above and below
    2**63 into float64, which would lose bits.
    """
    w = words if isinstance(words, np.ndarray) else np.array(words, dtype=object)
    if w.dtype == object:
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in w.flat):
            raise TypeError("words must hold integers")
    elif w.dtype.kind not in "ui":
        raise TypeError(f"words must be an integer array, not dtype {w.dtype}")
    if w.size:
        lo, hi = int(w.min()), int(w.max())
        if lo < 0 or hi >= 1 << word_bits:
            raise ValueError(
                f"words must hold values in 0..{(1 << word_bits) - 1}, found {lo}..{hi}"
            )
    return w.astype(np.uint64)


def unpack_bits(words: object, n: int, word_bits: int) -> np.ndarray:
    """The first ``n`` bits of packed ``words``, as ``uint8``."""
    dtype = word_dtype(word_bits)
    w = _words(words, word_bits)
    if w.ndim != 1:
        raise ValueError(f"words must be 1-D, not shape {w.shape}")
    check_int("n", n, 0, w.size * word_bits)
    raw = w.astype(dtype).view(np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n]


def tensor_to_stream(x: object, *, layout: str = "NHWC") -> np.ndarray:
    """A 4-D tensor as its bitstream order (NHWC, channel fastest), flattened.

    ``layout`` says how ``x`` is laid out: ``"NHWC"`` or ``"NCHW"`` (torch's default).
    """
    a = np.asarray(x)
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(_LAYOUTS)}, not {layout!r}")
    if a.ndim != 4:
        raise ValueError(f"x must be a 4-D tensor, not shape {a.shape}")
    if layout == "NCHW":
        a = a.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(a).reshape(-1)


def stream_to_tensor(
    stream: object, shape: tuple[int, int, int, int], *, layout: str = "NHWC"
) -> np.ndarray:
    """Inverse of :func:`tensor_to_stream`: ``shape`` is given in ``layout``."""
    s = np.asarray(stream)
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(_LAYOUTS)}, not {layout!r}")
    if len(shape) != 4 or int(np.prod(shape)) != s.size:
        raise ValueError(f"shape must be 4-D with {s.size} elements, not {tuple(shape)}")
    if layout == "NCHW":
        n, c, h, w = shape
        return s.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return s.reshape(shape)
