"""The sbq design contract: every bit-level format, defined once.

Pure Python (no torch, no amaranth): the reference model (``model/``) and the gateware
(``hw/``) both read these frozen dataclasses, so they cannot disagree on a width, a
polynomial or a bit order. Each validates its fields in its constructor and has a
``fingerprint()`` that golden files record. ``docs/formats.md`` documents them.
"""

from __future__ import annotations

import hashlib

from ._base import SPEC_VERSION, SpecBase
from .binarize import MAX_LANES, SOURCES, BinarizerSpec
from .device import DeviceSpec, EngineInfo
from .encoding import (
    MAX_ACT_BITS,
    SAVE_MODES,
    TRAIN_CHUNK_ELEMENTS,
    ActivationEncoding,
    WeightEncoding,
)
from .lfsr import DEFAULT_MASK, LfsrSpec
from .network import ConvLayer, IntNetSpec, requantize
from .pack import WORD_BITS_CHOICES, PackingSpec
from .protocol import (
    LOGIT_BYTES,
    NO_STOP,
    REQUESTS,
    RESPONSES,
    LinkSpec,
    Opcode,
    PayloadLayout,
    Status,
    StatusFlag,
    StoreFlag,
)
from .shared_lfsr import DEFAULT_SHARED_MASK, SharedLfsrSpec
from .xnor_acc import DatapathSpec, Mode

__all__ = [
    "DEFAULT_MASK",
    "DEFAULT_SHARED_MASK",
    "LOGIT_BYTES",
    "MAX_ACT_BITS",
    "MAX_LANES",
    "NO_STOP",
    "REQUESTS",
    "RESPONSES",
    "SAVE_MODES",
    "SOURCES",
    "SPEC_VERSION",
    "TRAIN_CHUNK_ELEMENTS",
    "WORD_BITS_CHOICES",
    "ActivationEncoding",
    "BinarizerSpec",
    "ConvLayer",
    "DatapathSpec",
    "DeviceSpec",
    "EngineInfo",
    "IntNetSpec",
    "LfsrSpec",
    "LinkSpec",
    "Mode",
    "Opcode",
    "PackingSpec",
    "PayloadLayout",
    "SharedLfsrSpec",
    "SpecBase",
    "Status",
    "StatusFlag",
    "StoreFlag",
    "WeightEncoding",
    "defaults",
    "fingerprint",
    "requantize",
]


def defaults() -> tuple[SpecBase, ...]:
    """One default instance of every format: the contract as shipped."""
    return (
        ActivationEncoding(),
        WeightEncoding(),
        LfsrSpec(),
        SharedLfsrSpec(),
        BinarizerSpec(source="shared"),  # the store path's, as the board ships
        PackingSpec(),
        DatapathSpec(),
        LinkSpec(),
    )


def fingerprint() -> str:
    """Fingerprint of the whole default contract: changes when any default field does."""
    joined = ",".join(s.fingerprint() for s in defaults())
    return hashlib.sha256(joined.encode()).hexdigest()[:16]
