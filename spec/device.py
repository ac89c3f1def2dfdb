"""SPEC sections 8-9: the whole device behind the link, as one spec object.

:class:`DeviceSpec` composes the block specs the top is built from (binarizer, packing,
datapath, link) with the sizes only the top has (weight buffer, result FIFO). The
gateware (``hw.top``), the software device model (``model.device``), the host driver and
the build all read their widths, depths and wire sizes from it, so none keeps its own
copy of a rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._base import SpecBase, check_int
from .binarize import SOURCES, BinarizerSpec
from .pack import PackingSpec
from .protocol import (
    IDENTIFY_MAGIC,
    LOGIT_BYTES,
    NO_STOP,
    REQUESTS,
    LinkSpec,
    Opcode,
    code_bytes,
    result_bytes,
)
from .xnor_acc import DatapathSpec


@dataclass(frozen=True)
class EngineInfo(SpecBase):
    """What the host link sees of a device's inference engine (``hw.engine``): the
    network baked into it and the sizes of its LOAD_IMAGE and READ_LOGITS payloads.

    Parameters
    ----------
    network : int
        The network's fingerprint (``model.intnet.IntNetwork.fingerprint()``, 16 hex
        digits, as an integer): IDENTIFY reports it, the host compares it with its file.
    image_bytes : int
        Bytes of one image (channels x side x side).
    classes : int
        Logits per image.
    cycles : int
        The engine's cycles per image (:meth:`spec.engine.EngineSpec.cycles`): with the
        board's clock, its images per second.
    lanes : int
        The engine's lanes (:class:`spec.engine.EngineSpec`): values per word of a
        READ_LAYER answer.
    layers : tuple of (int, int)
        The passes RUN_TO may stop after, in order, and the words of each one's output
        (:meth:`spec.engine.EngineSpec.layers`).
    """

    network: int
    image_bytes: int
    classes: int
    cycles: int
    lanes: int
    layers: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        check_int("network", self.network, 1, (1 << 64) - 1)
        check_int("image_bytes", self.image_bytes, 1, 1 << 24)
        check_int("classes", self.classes, 1, 1 << 12)
        check_int("cycles", self.cycles, 1, (1 << 32) - 1)
        check_int("lanes", self.lanes, 1, 0xFFFF)
        if not isinstance(self.layers, tuple):
            raise TypeError(f"layers must be a tuple of (pass, words) pairs, not {self.layers!r}")
        for index, words in self.layers:
            check_int("a layer's pass", index, 0, NO_STOP - 1)
            check_int("a layer's words", words, 1, 1 << 24)


@dataclass(frozen=True)
class DeviceSpec(SpecBase):
    """The sbq top: a stochastic store path, a weight buffer, the XNOR/accumulate
    datapath in all modes and a result FIFO behind one host link.

    Parameters
    ----------
    binarizer : BinarizerSpec
        The store path's binarizer: its ``lanes`` and ``act_bits`` are the whole
        device's (the datapath's too), its ``seed`` the LFSR bank's reset state, its
        ``source`` the random source (by default the shared LFSR, ``docs/formats.md``
        section 3b: a fifth of the per-lane bank's logic) and its ``seed_bits`` the
        width of a SET_SEED seed.
    packing : PackingSpec
        The activation SRAM: word width and depth.
    weight_depth : int
        Words of the weight buffer (of ``packing.word_bits`` each).
    result_depth : int
        Entries of the result FIFO.
    acc_bits : int
        The datapath's signed accumulator width (results travel as
        :func:`~spec.protocol.result_bytes` bytes).
    link : LinkSpec
        The host link.
    engine : EngineInfo or None
        The inference engine, if the device has one (LOAD_IMAGE and READ_LOGITS).

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type or out of range; lanes that do not divide a word into
        whole beats; a ``max_payload`` too small to carry one beat of codes; a longest
        dot product that would overflow ``acc_bits``.
    """

    binarizer: BinarizerSpec = field(default_factory=lambda: BinarizerSpec(source="shared"))
    packing: PackingSpec = field(default_factory=PackingSpec)
    weight_depth: int = 1024
    result_depth: int = 32
    acc_bits: int = 32
    link: LinkSpec = field(default_factory=LinkSpec)
    engine: EngineInfo | None = None

    def __post_init__(self) -> None:
        for name, cls in (("binarizer", BinarizerSpec), ("packing", PackingSpec),
                          ("link", LinkSpec)):  # fmt: skip
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, not {getattr(self, name)!r}")
        if self.binarizer.deterministic:
            raise ValueError("the device's binarizer is stochastic: deterministic must be False")
        check_int("weight_depth", self.weight_depth, 1, 1 << 24)
        check_int("result_depth", self.result_depth, 1, 1 << 16)
        check_int("acc_bits", self.acc_bits, 2, 64)
        self.packing.beats_per_word(self.lanes)
        need = REQUESTS[Opcode.STORE_CODES].fixed_bytes + self.lanes * self.code_bytes
        if self.link.max_payload < need:
            raise ValueError(
                f"max_payload must hold one beat of {self.lanes} codes ({need} bytes), "
                f"not {self.link.max_payload}"
            )
        _ = self.datapath  # refuses an accumulator the longest dot product overflows
        if self.engine is not None:
            if not isinstance(self.engine, EngineInfo):
                raise TypeError(f"engine must be an EngineInfo or None, not {self.engine!r}")
            if self.engine.lanes * LOGIT_BYTES > self.link.max_payload:
                raise ValueError(
                    f"max_payload must hold one word of {self.engine.lanes} layer values "
                    f"({self.engine.lanes * LOGIT_BYTES} bytes), not {self.link.max_payload}"
                )
            if self.engine.classes * LOGIT_BYTES > self.link.max_payload:
                raise ValueError(
                    f"max_payload must hold {self.engine.classes} logits "
                    f"({self.engine.classes * LOGIT_BYTES} bytes), not {self.link.max_payload}"
                )

    @classmethod
    def of(
        cls,
        *,
        lanes: int = 32,
        act_bits: int = 8,
        word_bits: int = 32,
        depth: int = 1024,
        seed: int = 1,
        source: str = "shared",
        result_depth: int = 32,
        link: LinkSpec | None = None,
        engine: EngineInfo | None = None,
    ) -> DeviceSpec:
        """The device with these sizes, a weight buffer as deep as the SRAM and
        32-bit sums: the shape every board top and test uses."""
        return cls(
            binarizer=BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, source=source),
            packing=PackingSpec(word_bits=word_bits, depth=depth),
            weight_depth=depth,
            result_depth=result_depth,
            link=LinkSpec() if link is None else link,
            engine=engine,
        )

    @property
    def lanes(self) -> int:
        """Elements per beat, of the binarizer and the datapath."""
        return self.binarizer.lanes

    @property
    def act_bits(self) -> int:
        """Activation code width."""
        return self.binarizer.act_bits

    @property
    def word_bits(self) -> int:
        """Bits per SRAM and weight word."""
        return self.packing.word_bits

    @property
    def depth(self) -> int:
        """Words of the activation SRAM."""
        return self.packing.depth

    @property
    def seed_bits(self) -> int:
        """Width of a seed: the random source's state."""
        return self.binarizer.seed_bits

    @property
    def beats_per_word(self) -> int:
        """Beats of ``lanes`` elements in one word."""
        return self.packing.beats_per_word(self.lanes)

    @property
    def code_bytes(self) -> int:
        """Bytes per code on the wire."""
        return code_bytes(self.act_bits)

    @property
    def word_bytes(self) -> int:
        """Bytes per word on the wire."""
        return self.word_bits // 8

    @property
    def result_bytes(self) -> int:
        """Bytes per dot-product result on the wire."""
        return result_bytes(self.acc_bits)

    @property
    def max_codes(self) -> int:
        """Most codes one RUN_DOT request carries."""
        return (self.link.max_payload - REQUESTS[Opcode.RUN_DOT].fixed_bytes) // self.code_bytes

    @property
    def datapath(self) -> DatapathSpec:
        """The datapath's spec: ``max_beats`` is the longest dot product RUN_DOT can ask
        for (every weight word in the bit modes, the longest request's codes in code
        mode), so the accumulator never wraps."""
        elements = max(self.weight_depth * self.word_bits, self.max_codes, 1)
        return DatapathSpec(
            lanes=self.lanes,
            act_bits=self.act_bits,
            acc_bits=self.acc_bits,
            max_beats=-(-elements // self.lanes),
        )

    def identify(self) -> dict[str, Any]:
        """The IDENTIFY answer's fields: this device's sizes and the fingerprint of the
        contract it is built under (:func:`spec.fingerprint`)."""
        from . import fingerprint  # the package imports this module first

        return {
            "magic": IDENTIFY_MAGIC,
            "protocol": self.link.protocol_version,
            "lanes": self.lanes,
            "act_bits": self.act_bits,
            "word_bits": self.word_bits,
            "depth": self.depth,
            "weight_depth": self.weight_depth,
            "acc_bits": self.acc_bits,
            "result_depth": self.result_depth,
            "fingerprint": int(fingerprint(), 16),
            "max_payload": self.link.max_payload,
            "network": self.engine.network if self.engine is not None else 0,
            "engine_cycles": self.engine.cycles if self.engine is not None else 0,
            "engine_lanes": self.engine.lanes if self.engine is not None else 0,
            "source": SOURCES.index(self.binarizer.source),
        }
