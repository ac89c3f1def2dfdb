"""Payloads as Python integers, from and to numpy arrays of fields, vectorised.

Amaranth flattens a payload into one Verilog vector: an ``ArrayLayout`` puts element
``j`` in bits ``j*width ...`` (SPEC section 5, index 0 least significant) and a
``StructLayout`` puts its fields one after another in declaration order, the first at
bit 0. :func:`pack` builds such integers for a whole stream at once; :func:`unpack`
splits them again.

>>> pack([(np.array([[1, 2], [3, 0]]), 4), (np.array([[1], [0]]), 1)])
[289, 3]
>>> unpack([289, 3], [(2, 4), (1, 1)])[0].tolist()
[[1, 2], [3, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _bits(values: np.ndarray, width: int) -> np.ndarray:
    """``(beats, n)`` values as ``(beats, n*width)`` bits, LSB first per element."""
    v = np.asarray(values, dtype=np.uint64)
    if v.ndim != 2:
        raise ValueError(f"a field must be a (beats, elements) array, not shape {v.shape}")
    if v.size and int(v.max()) >> width:
        raise ValueError(f"a field holds {int(v.max())}, wider than {width} bits")
    raw = v.astype("<u8").view(np.uint8).reshape(*v.shape, 8)  # bytes, LSB first
    bits = np.unpackbits(raw[..., : -(-width // 8)], axis=-1, bitorder="little")
    return bits[..., :width].reshape(v.shape[0], -1)


def pack(fields: Sequence[tuple[np.ndarray, int]]) -> list[int]:
    """One integer per beat from ``(values, width)`` fields, ``values`` of shape
    ``(beats, elements)``; the first field's first element in the least significant bits."""
    bits = np.concatenate([_bits(v, w) for v, w in fields], axis=1)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def unpack(payloads: Sequence[int], fields: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Inverse of :func:`pack`: ``fields`` as ``(elements, width)``; one ``(beats,
    elements)`` int64 array per field."""
    total = sum(n * w for n, w in fields)
    nbytes = max(1, -(-total // 8))
    raw = b"".join(int(p).to_bytes(nbytes, "little") for p in payloads)
    bits = np.unpackbits(
        np.frombuffer(raw, dtype=np.uint8).reshape(len(payloads), nbytes), axis=1, bitorder="little"
    )[:, :total]
    out, at = [], 0
    for n, w in fields:
        chunk = bits[:, at : at + n * w].reshape(len(payloads), n, w).astype(np.int64)
        out.append((chunk << np.arange(w, dtype=np.int64)).sum(axis=2))
        at += n * w
    return out


def rows(flat: np.ndarray, lanes: int, fill: int = 0) -> np.ndarray:
    """A stream of elements as ``(beats, lanes)``, the last beat padded with ``fill``."""
    flat = np.asarray(flat).reshape(-1)
    out = np.full(-(-flat.size // lanes) * lanes, fill, dtype=np.int64)
    out[: flat.size] = flat
    return out.reshape(-1, lanes)


def last_flags(beats: int) -> np.ndarray:
    """A ``(beats, 1)`` column with 1 on the final beat only."""
    flags = np.zeros((beats, 1), dtype=np.int64)
    if beats:
        flags[-1] = 1
    return flags


def codes_with_edges(rng: np.random.Generator, shape: tuple[int, ...], act_bits: int) -> np.ndarray:
    """Uniform ``act_bits``-bit codes with one in eight set to 0 and one in eight to the
    top code ``2**act_bits - 1`` (the binarizer's edge values)."""
    top = (1 << act_bits) - 1
    codes = rng.integers(0, top + 1, size=shape)
    pick = rng.random(size=shape)
    codes[pick < 0.125] = 0
    codes[pick > 0.875] = top
    return codes
