"""The bit-exact integer reference of a deployed network: :func:`run` computes what the
gateware's engine must, from ``uint8`` images to integer logits (``docs/formats.md``,
"Integer network"). numpy only; every value is an exact integer.

Every value is held in a float array, where it is exact: convolutions are matrix
products of the codes' 3x3 (or 1x1) windows with the +-1 weights in ``float32`` when
every partial sum stays below 2**24 (integers that small are exact in float32 whatever
the summation order), else in ``float64``; the stream, the sums and the rules are
``float64``, exact below 2**53 (:meth:`model.intnet.IntNetwork.check` keeps every
``x * M + C`` there). The results are returned as ``int64``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from spec import ConvLayer

from .intnet import IntNetwork, Requant

__all__ = ["run"]

_EXACT_FLOAT32 = 1 << 24


def _conv(codes: np.ndarray, signs: np.ndarray, conv: ConvLayer, pad_code: int) -> np.ndarray:
    """``sum (2w - 1) * q`` over each window: ``codes`` ``(N, H, W, C)`` (exact integers
    in a float array), ``signs`` ``(fan_in, cout)`` in filter order (kernel row, column,
    channel); returns the exact sums ``(N, H', W', cout)`` in the float type it used."""
    dtype = np.float32 if conv.acc_bound < _EXACT_FLOAT32 else np.float64
    x = codes.astype(dtype, copy=False)
    p = conv.kernel // 2
    if p:
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=pad_code)
    if conv.kernel == 1:
        cols = x[:, :: conv.stride, :: conv.stride].reshape(-1, conv.cin)
        n, ho, wo = x.shape[0], conv.size_out, conv.size_out
    else:
        win = sliding_window_view(x, (conv.kernel, conv.kernel), axis=(1, 2))
        win = win[:, :: conv.stride, :: conv.stride]  # (N, H', W', C, kh, kw)
        n, ho, wo = win.shape[:3]
        cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, conv.fan_in)
    return (cols @ signs.astype(dtype, copy=False)).reshape(n, ho, wo, conv.cout)


def _pool_sum(x: np.ndarray, cout: int) -> np.ndarray:
    """Each 3x3 window's sum, stride 2, zero padding 1, channels zero-padded to ``cout``."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    n, h, w, c = padded.shape
    out = np.zeros((n, (h - 3) // 2 + 1, (w - 3) // 2 + 1, cout), dtype=x.dtype)
    for dy in range(3):
        for dx in range(3):
            out[..., :c] += padded[:, dy : dy + h - 2 : 2, dx : dx + w - 2 : 2]
    return out


def _rule(x: np.ndarray, r: Requant, hi: int | None = None) -> np.ndarray:
    """:meth:`Requant.apply` on exact integers held in ``float64``: ``x * M + C`` stays
    below 2**53 (``IntNetwork.check`` bounds it), so ``x * (M / 2**s) + C / 2**s`` (the
    same sum scaled by a power of two) is exact and ``floor`` gives the rule's result."""
    scale = 2.0**-r.shift
    y = x * (r.mult * scale)  # float64 whatever x's float type: x is exact in it
    y += r.add * scale
    np.floor(y, out=y)
    return np.clip(y, 0, hi, out=y) if hi is not None else y


def run(
    net: IntNetwork,
    images: np.ndarray,
    *,
    trace: bool = False,
    batch: int = 50,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Integer logits of ``images``.

    Parameters
    ----------
    net : IntNetwork
        The network.
    images : numpy.ndarray of uint8, shape ``(N, in_channels, size, size)``
        NCHW images, as the training data holds them.
    trace : bool
        Also return every layer's values (``int64``, NHWC): ``NAME.codes`` (a
        convolution's input codes), ``NAME.acc`` (its sums), ``stem.out`` and
        ``blocks.K.out`` (the stream after the stem and after block K), ``head.sum``
        and ``logits``; for golden vectors and debugging.
    batch : int
        Images per step (memory and speed, not results).

    Returns
    -------
    numpy.ndarray of int64, shape ``(N, num_classes)``
        The logits; with ``trace``, ``(logits, values)``.

    Raises
    ------
    ValueError
        ``images`` of another dtype or shape.
    """
    s = net.spec
    want = (s.in_channels, s.image_size, s.image_size)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.shape[1:] != want:
        got = (getattr(images, "dtype", type(images).__name__), getattr(images, "shape", None))
        shape = ", ".join(map(str, want))
        raise ValueError(f"images must be uint8 of shape (N, {shape}), not {got}")
    signs = {name: (2 * b.astype(np.int8) - 1).T for name, b in net.bits.items()}
    pieces, traces = [], []
    for start in range(0, len(images), batch):
        t: dict[str, np.ndarray] = {}
        pieces.append(_forward(net, signs, images[start : start + batch], t if trace else None))
        traces.append(t)
    logits = np.concatenate(pieces) if pieces else np.zeros((0, s.num_classes))
    logits = logits.astype(np.int64)
    if not trace:
        return logits
    values = {k: np.concatenate([t[k] for t in traces]) for k in traces[0]} if traces else {}
    return logits, values


def _forward(
    net: IntNetwork, signs: dict[str, np.ndarray], images: np.ndarray, t: dict | None
) -> np.ndarray:
    s, rq = net.spec, net.requant
    q_max = (1 << s.act_bits) - 1
    convs = {c.name: c for c in s.convs()}

    def keep(name: str, value: np.ndarray) -> np.ndarray:
        if t is not None:
            t[name] = value.astype(np.int64)
        return value

    pixels = images.transpose(0, 2, 3, 1).astype(np.float64)
    codes = keep("stem.codes", _rule(pixels, rq["stem.in"], 255))
    acc = keep("stem.acc", _conv(codes, signs["stem"], convs["stem"], net.zero_code))
    x = keep("stem.out", acc + net.stem_bias)
    for k, name in enumerate(s.block_names()):
        c1, c2 = convs[f"{name}.conv1"], convs[f"{name}.conv2"]
        q1 = keep(f"{c1.name}.codes", _rule(x, rq[f"{c1.name}.in"], q_max))
        a1 = keep(f"{c1.name}.acc", _conv(q1, signs[c1.name], c1, 0))
        q2 = keep(f"{c2.name}.codes", _rule(a1, rq[f"{c2.name}.in"], q_max))
        a2 = keep(f"{c2.name}.acc", _conv(q2, signs[c2.name], c2, 0))
        shortcut = _pool_sum(x, c2.cout) if s.is_pool_block(k) else x
        x = keep(f"{name}.out", shortcut + _rule(a2, rq[f"{name}.add"]))
    head = convs["head"]
    q = keep("head.codes", _rule(x, rq["head.in"], q_max))
    a = keep("head.acc", _conv(q, signs["head"], head, 0))
    total = keep("head.sum", a.sum(axis=(1, 2), dtype=np.float64))
    return keep("logits", _rule(total, rq["logits"]))
