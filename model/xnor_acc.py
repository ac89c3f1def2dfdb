"""Reference model of the XNOR / AND / code accumulate datapath (SPEC section 6).

Every dot product is accumulated exactly in integers. The overflow rule is the spec's:
a :class:`spec.DatapathSpec` whose longest dot product could overflow its ``acc_bits``
accumulator cannot be built, and a dot product longer than ``spec.max_elements`` is
refused here just as the hardware's framing would be out of contract.

>>> dot([[1, 0, 1]], [[1, 1, 1]], mode="xnor").tolist()
[1]
>>> dot([[1, 0, 1]], [[3, 2, 0]], mode="code").tolist()
[1]
"""

from __future__ import annotations

import numpy as np

from spec import DatapathSpec, Mode

from ._check import int_array


def as_mode(mode: Mode | str) -> Mode:
    """A :class:`spec.Mode` from itself or its name (``"xnor"``, ``"and"``, ``"code"``)."""
    if isinstance(mode, Mode):
        return mode
    names = [m.name.lower() for m in Mode]
    if isinstance(mode, str) and mode.lower() in names:
        return Mode[mode.upper()]
    raise ValueError(f"mode must be one of {', '.join(names)}, not {mode!r}")


def dot(
    weights: object, acts: object, mode: Mode | str, spec: DatapathSpec | None = None
) -> np.ndarray:
    """Signed dot products of weight bits with activation bits or codes.

    Parameters
    ----------
    weights : array_like of {0, 1}, shape ``(..., L)``
        Weight bits, 1 meaning +1 and 0 meaning -1.
    acts : array_like of int, shape ``(..., L)``
        Activation bits (``xnor``: 1 = +1, 0 = -1; ``and``: 0/1) or, in ``code``
        mode, codes in ``0..2**spec.act_bits - 1``.
    mode : Mode or str
        ``xnor``, ``and`` or ``code``.
    spec : DatapathSpec, optional
        Widths and the longest dot product; the default spec if omitted.

    Returns
    -------
    numpy.ndarray
        ``int64`` sums, shape ``(...)``; each fits the signed ``acc_bits`` accumulator.
    """
    spec = spec or DatapathSpec()
    mode = as_mode(mode)
    w = int_array("weights", weights, 0, 1)
    a_max = (1 << spec.act_bits) - 1 if mode is Mode.CODE else 1
    a = int_array("acts", acts, 0, a_max)
    if w.shape != a.shape or w.ndim == 0:
        raise ValueError(
            f"weights and acts must share a shape (..., L), not {w.shape} and {a.shape}"
        )
    length = w.shape[-1]
    if not 1 <= length <= spec.max_elements:
        raise ValueError(
            f"dot products must have 1..{spec.max_elements} elements (max_beats x lanes), "
            f"not {length}"
        )
    sign = 2 * w - 1
    terms = sign * (2 * a - 1) if mode is Mode.XNOR else sign * a
    return terms.sum(axis=-1)


def split_beats(
    weights: object, acts: object, lanes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The beat framing of dot products: what the datapath's input stream carries.

    Element ``k`` of a dot product travels in lane ``k % lanes`` of beat ``k // lanes``
    (SPEC 4's lane order); a dot product of ``L`` elements takes ``ceil(L / lanes)``
    beats, and a partial last beat has lanes ``0..r-1`` valid, ``r = L % lanes``. Invalid
    lanes carry zeros. The first beat has ``first`` set and the last ``last``: that is
    implied by the beat index, so it is not returned.

    Parameters
    ----------
    weights : array_like of {0, 1}, shape ``(..., L)``
        Weight bits.
    acts : array_like of int, shape ``(..., L)``
        Activation bits or codes, ``0..2**16 - 1`` (the mode decides what is legal).
    lanes : int
        Lanes per beat, ``>= 1``.

    Returns
    -------
    w : numpy.ndarray of object (Python int), shape ``(..., n_beats)``
        Weight bits packed per beat: bit ``j`` is lane ``j``'s weight.
    a : numpy.ndarray of int64, shape ``(..., n_beats, lanes)``
        Each lane's operand, 0 in invalid lanes.
    valid : numpy.ndarray of object (Python int), shape ``(..., n_beats)``
        Bit ``j`` set iff lane ``j`` carries an element.

    Packed masks are Python ints so that any lane count fits.

    >>> w, a, valid = split_beats([[1, 0, 1, 1, 0]], [[3, 2, 0, 1, 7]], lanes=4)
    >>> [bin(x) for x in w[0]], a[0].tolist(), [bin(x) for x in valid[0]]
    (['0b1101', '0b0'], [[3, 2, 0, 1], [7, 0, 0, 0]], ['0b1111', '0b1'])
    """
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
    w = int_array("weights", weights, 0, 1)
    a = int_array("acts", acts, 0, (1 << 16) - 1)
    if w.shape != a.shape or w.ndim == 0 or w.shape[-1] == 0:
        raise ValueError(
            f"weights and acts must share a shape (..., L) with L >= 1, not {w.shape} and {a.shape}"
        )
    length = w.shape[-1]
    n_beats = -(-length // lanes)
    pad = [(0, 0)] * (w.ndim - 1) + [(0, n_beats * lanes - length)]
    lead = w.shape[:-1]
    w_lanes = np.pad(w, pad).reshape(*lead, n_beats, lanes)
    a_lanes = np.pad(a, pad).reshape(*lead, n_beats, lanes)
    v_lanes = np.pad(np.ones_like(w), pad).reshape(*lead, n_beats, lanes)
    weights_of_lane = np.array([1 << j for j in range(lanes)], dtype=object)
    w_packed = (w_lanes.astype(object) * weights_of_lane).sum(axis=-1)
    v_packed = (v_lanes.astype(object) * weights_of_lane).sum(axis=-1)
    return w_packed, a_lanes, v_packed


def pad_to_beats(weights: object, acts: object, lanes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Xnor-mode dot products padded to whole beats, for a datapath without SPEC 6's
    mask (:class:`hw.xnor_full.FullBeatXnorAccumulator`).

    Every padding element has weight 0 and activation 0, so it adds ``+1`` in xnor mode
    (``2*xnor(0, 0) - 1``): the padded dot product is the true one plus ``pad``, which
    the caller subtracts. (Xnor elements are +-1, so no padding adds zero.)

    Parameters
    ----------
    weights, acts : array_like of {0, 1}, shape ``(..., L)``
        Weight and activation bits.
    lanes : int
        Lanes per beat, ``>= 1``.

    Returns
    -------
    w, a : numpy.ndarray of int64, shape ``(..., ceil(L / lanes) * lanes)``
        The padded bits.
    pad : int
        Padding elements per dot product: ``dot(w, a) - pad`` is the unpadded sum.

    >>> w, a, pad = pad_to_beats([1, 0, 1], [1, 1, 0], lanes=4)
    >>> int(dot(w, a, "xnor", DatapathSpec(lanes=4))) - pad
    -1
    """
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
    w = int_array("weights", weights, 0, 1)
    a = int_array("acts", acts, 0, 1)
    if w.shape != a.shape or w.ndim == 0:
        raise ValueError(
            f"weights and acts must share a shape (..., L), not {w.shape} and {a.shape}"
        )
    pad = -w.shape[-1] % lanes
    widths = [(0, 0)] * (w.ndim - 1) + [(0, pad)]
    return np.pad(w, widths), np.pad(a, widths), pad
