"""Argument checks shared by the model's public functions: clear errors, no tracebacks
from deep inside numpy."""

from __future__ import annotations

import numpy as np


def int_array(name: str, x: object, lo: int, hi: int) -> np.ndarray:
    """``x`` as an int64 array, or ValueError if it is not integral or leaves ``lo..hi``."""
    arr = np.asarray(x)
    if arr.size == 0:
        return arr.astype(np.int64)  # `[]` arrives as float64: nothing to check
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, not dtype {arr.dtype}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must hold values in {lo}..{hi}, found {arr.min()}..{arr.max()}")
    return arr.astype(np.int64, copy=False)
