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
