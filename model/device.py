"""The device's command semantics in software: what the sbq top answers to each frame.

:class:`DeviceModel` is the one definition, in Python, of ``docs/protocol.md`` section 5:
the gateware's tests check the top's every answer against it, the host driver's tests
talk to it through a pipe, and the fuzz harnesses predict with it. It holds the state the
top holds: the activation SRAM's words and write side, the weight buffer, the LFSR stream
position, the result FIFO, the sticky flags and the link's refused-frame count.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from spec import (
    LOGIT_BYTES,
    NO_STOP,
    REQUESTS,
    RESPONSES,
    DeviceSpec,
    Mode,
    Opcode,
    Status,
    StatusFlag,
    StoreFlag,
)
from spec.engine import EngineSpec

from . import infer
from .binarize import threshold
from .intnet import IntNetwork, layer_words
from .lfsr import CodeStream
from .pack import pack_bits, unpack_bits
from .xnor_acc import dot

__all__ = ["DeviceModel"]


class DeviceModel:
    """The state and answers of a device built to ``spec``.

    Parameters
    ----------
    spec : DeviceSpec
        The device modelled.

    Attributes
    ----------
    words, weights : list[int]
        The activation SRAM's and the weight buffer's words.
    count : int
        Words written to the SRAM since the last clear.
    results : collections.deque[int]
        The result FIFO, oldest first.
    flags : StatusFlag
        The sticky flags (``LINK_ERROR`` is derived from ``errors``).
    errors : int
        Frames the link refused since the last CLEAR_STATUS (saturating at 0xFFFF).
    image, logits : bytearray, list[int] or None
        The engine's image so far; the last whole image's logits, once they are out.
    stop_at, stopped : int, int or None
        The pass RUN_TO set (``NO_STOP``: none); the pass the engine stopped after.

    Examples
    --------
    >>> from spec import DeviceSpec, Opcode, REQUESTS
    >>> dev = DeviceModel(DeviceSpec.of(lanes=8))
    >>> dev.handle(Opcode.SET_SEED, REQUESTS[Opcode.SET_SEED].pack({"seed": 0}))
    (<Status.BAD_ARGUMENT: 6>, b'')
    >>> dev.flags
    <StatusFlag.SEED_ERROR: 2>
    """

    def __init__(self, spec: DeviceSpec, network: IntNetwork | None = None) -> None:
        if not isinstance(spec, DeviceSpec):
            raise TypeError(f"spec must be a DeviceSpec, not {spec!r}")
        if (spec.engine is None) != (network is None) or (
            network is not None and int(network.fingerprint(), 16) != spec.engine.network
        ):
            raise ValueError("network must be given exactly when spec.engine is, and match it")
        self.spec, self.network = spec, network
        self.image = bytearray()  # the engine's image so far
        self.logits: list[int] | None = None  # of the last whole image, once out
        self.stop_at = NO_STOP  # RUN_TO's pass
        self.stopped: int | None = None  # the pass the engine stopped after
        self._run: tuple[list[int], dict[str, np.ndarray]] | None = None  # logits, layers
        # The store path's random codes, going on from one STORE_CODES to the next.
        self.codes = CodeStream(spec.binarizer)
        self.words = [0] * spec.depth
        self.weights = [0] * spec.weight_depth
        self.count = self._slot = self._held = 0
        self._overflow = False
        self.results: deque[int] = deque()
        self.flags = StatusFlag(0)
        self.errors = 0

    def refused(self) -> None:
        """The link refused a frame (it counts; the handler never sees the frame)."""
        self.errors = min(self.errors + 1, 0xFFFF)

    def handle(self, opcode: int, payload: bytes) -> tuple[Status, bytes]:
        """The answer to a frame the link delivered: ``(status, payload)``, with the
        state changed as the device changes it.

        Raises
        ------
        ValueError
            ``opcode`` is not an :class:`spec.Opcode` or ``payload`` is shorter than its
            fixed fields: the link never delivers such a frame.
        """
        op = Opcode(opcode)
        values, tail = REQUESTS[op].unpack(payload)
        return getattr(self, f"_{op.name.lower()}")(values, tail)

    # --- one method per command, in docs/protocol.md's order -------------------------

    def _identify(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        return Status.OK, RESPONSES[Opcode.IDENTIFY].pack(self.spec.identify())

    def _set_seed(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        seed = values["seed"]
        if seed == 0 or seed >> self.spec.seed_bits:
            self.flags |= StatusFlag.SEED_ERROR
            return Status.BAD_ARGUMENT, b""
        self.codes = CodeStream(dataclasses.replace(self.spec.binarizer, seed=seed))
        return Status.OK, b""

    def _store_codes(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        lanes = self.spec.lanes
        if len(tail) % (lanes * self.spec.code_bytes):
            return Status.BAD_LENGTH, b""
        flags = values["flags"]
        if flags & StoreFlag.CLEAR:
            self.count = self._slot = self._held = 0
            self._overflow = False
        bits = self._binarize(self._codes(tail))
        beats = len(bits) // lanes
        for t in range(beats):
            last = bool(flags & StoreFlag.LAST) and t == beats - 1
            self._store_beat(bits[t * lanes : (t + 1) * lanes], last)
        if self._overflow:
            self.flags |= StatusFlag.SRAM_OVERFLOW
            return Status.OVERFLOW, b""
        return Status.OK, RESPONSES[Opcode.STORE_CODES].pack({"count": self.count})

    def _read_words(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        addr, n, size = values["addr"], values["n"], self.spec.word_bytes
        if addr + n > self.count or n > self.spec.link.max_payload // size:
            return Status.BAD_ARGUMENT, b""
        return Status.OK, b"".join(w.to_bytes(size, "little") for w in self.words[addr : addr + n])

    def _load_weights(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        size = self.spec.word_bytes
        if len(tail) % size:
            return Status.BAD_LENGTH, b""
        addr, n = values["addr"], len(tail) // size
        if addr + n > self.spec.weight_depth:
            return Status.BAD_ARGUMENT, b""
        for k in range(n):
            self.weights[addr + k] = int.from_bytes(tail[k * size : (k + 1) * size], "little")
        return Status.OK, b""

    def _run_dot(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        mode, n = values["mode"], values["n"]
        w_addr, a_addr = values["w_addr"], values["a_addr"]
        if mode not in {m.value for m in Mode}:
            return Status.BAD_ARGUMENT, b""
        code = mode == Mode.CODE.value
        if len(tail) != (n * self.spec.code_bytes if code else 0):
            return Status.BAD_LENGTH, b""
        n_words = -(-n // self.spec.word_bits)
        if (
            n == 0
            or w_addr + n_words > self.spec.weight_depth
            or (not code and a_addr + n_words > self.count)
        ):
            return Status.BAD_ARGUMENT, b""
        w = unpack_bits(self.weights[w_addr : w_addr + n_words], n, self.spec.word_bits)
        if code:
            a = self._codes(tail)
        else:
            a = unpack_bits(self.words[a_addr : a_addr + n_words], n, self.spec.word_bits)
        if len(self.results) == self.spec.result_depth:
            self.flags |= StatusFlag.RESULT_OVERFLOW
            return Status.OVERFLOW, b""
        self.results.append(int(dot(w, a, Mode(mode), self.spec.datapath)))
        return Status.OK, RESPONSES[Opcode.RUN_DOT].pack({"pending": len(self.results)})

    def _read_results(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        size = self.spec.result_bytes
        k = min(values["n"], len(self.results), self.spec.link.max_payload // size)
        out = [self.results.popleft() for _ in range(k)]
        return Status.OK, b"".join(r.to_bytes(size, "little", signed=True) for r in out)

    def _read_status(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        flags = self.flags | (StatusFlag.LINK_ERROR if self.errors else StatusFlag(0))
        fields = {"flags": int(flags), "count": self.count, "pending": len(self.results),
                  "errors": self.errors}  # fmt: skip
        return Status.OK, RESPONSES[Opcode.READ_STATUS].pack(fields)

    def _clear_status(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        self.flags = StatusFlag(0)
        self.errors = 0
        return Status.OK, b""

    def _load_image(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        engine = self.spec.engine
        if engine is None or self.network is None:
            return Status.UNKNOWN_OPCODE, b""
        offset = values["offset"]
        if offset == 0:  # a new image: whatever was loaded or stopped is dropped
            self.image, self.logits, self.stopped = bytearray(), None, None
        elif offset != len(self.image):
            return Status.BAD_ARGUMENT, b""
        if offset + len(tail) > engine.image_bytes:
            return Status.BAD_ARGUMENT, b""
        self.image += tail
        if tail and len(self.image) == engine.image_bytes:
            s = self.network.spec
            hwc = np.frombuffer(bytes(self.image), np.uint8).reshape(
                s.image_size, s.image_size, s.in_channels
            )
            logits, layers = infer.run(self.network, hwc.transpose(2, 0, 1)[None], trace=True)
            self._run = [int(v) for v in logits[0]], layers
            self._go(self.stop_at)
        return Status.OK, RESPONSES[Opcode.LOAD_IMAGE].pack({"received": len(self.image)})

    def _go(self, stop: int) -> None:
        """The engine runs on to pass ``stop`` (and stops) or, with no such pass, to
        the logits."""
        assert self._run is not None
        if stop == NO_STOP:
            self.stopped, self.logits = None, self._run[0]
        else:
            self.stopped = stop

    def _read_logits(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        if self.spec.engine is None:
            return Status.UNKNOWN_OPCODE, b""
        if self.logits is None:
            return Status.BAD_ARGUMENT, b""
        return Status.OK, b"".join(v.to_bytes(LOGIT_BYTES, "little", signed=True)
                                   for v in self.logits)  # fmt: skip

    def _run_to(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        engine = self.spec.engine
        if engine is None:
            return Status.UNKNOWN_OPCODE, b""
        index = values["index"]
        layer = index in dict(engine.layers)
        if not layer and index != NO_STOP:
            return Status.BAD_ARGUMENT, b""
        if self.stopped is not None and layer and index <= self.stopped:
            return Status.BAD_ARGUMENT, b""
        self.stop_at = index
        if self.stopped is not None:
            self._go(index)
        return Status.OK, b""

    def _read_layer(self, values: dict[str, int], tail: bytes) -> tuple[Status, bytes]:
        engine = self.spec.engine
        if engine is None or self.network is None:
            return Status.UNKNOWN_OPCODE, b""
        addr, n, lanes = values["addr"], values["n"], engine.lanes
        if (
            self.stopped is None
            or addr + n > dict(engine.layers)[self.stopped]
            or n > self.spec.link.max_payload // (lanes * LOGIT_BYTES)
        ):
            return Status.BAD_ARGUMENT, b""
        assert self._run is not None
        name = EngineSpec(lanes=lanes).passes(self.network.spec)[self.stopped].layer
        words = layer_words(self._run[1][name][0], lanes)
        return Status.OK, b"".join(int(v).to_bytes(LOGIT_BYTES, "little", signed=True)
                                   for v in words[addr : addr + n].ravel())  # fmt: skip

    # --- the store path ------------------------------------------------------------------

    def _codes(self, tail: bytes) -> np.ndarray:
        """Codes from a tail as the device reads them: bits above ``act_bits`` dropped."""
        dtype = np.uint8 if self.spec.code_bytes == 1 else np.dtype("<u2")
        codes = np.frombuffer(tail, dtype=dtype).astype(np.int64)
        return codes & ((1 << self.spec.act_bits) - 1)

    def _binarize(self, codes: np.ndarray) -> np.ndarray:
        """The next ``codes.size`` stochastic bits (whole beats) of the random source."""
        r = self.codes.take(codes.size)
        return threshold(codes, r.astype(np.int64)).astype(np.uint8)

    def _store_beat(self, bits: np.ndarray, last: bool) -> None:
        """One beat into the packer: a word is written when full or on ``last``; a word
        that finds the SRAM full is dropped and overflows it."""
        self._held |= int(pack_bits(bits, 64)[0]) << (self._slot * self.spec.lanes)
        if last or self._slot == self.spec.beats_per_word - 1:
            if self.count == self.spec.depth:
                self._overflow = True
            else:
                self.words[self.count] = self._held
                self.count += 1
            self._slot = self._held = 0
        else:
            self._slot += 1
