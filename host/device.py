"""The board as a Python object: one method per :class:`spec.Opcode`.

Every method sends one or more request frames and waits for each answer before the
next (the device buffers one frame). A status other than OK raises
:class:`~host.link.DeviceError`; a missing, malformed or mismatched answer raises
:class:`~host.link.LinkError` (:class:`~host.link.LinkTimeout` when it never came).
Payload layouts come from :data:`spec.REQUESTS` / :data:`spec.RESPONSES`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from spec import (
    LOGIT_BYTES,
    NO_STOP,
    REQUESTS,
    RESPONSES,
    SOURCES,
    BinarizerSpec,
    LinkSpec,
    Mode,
    Opcode,
    Status,
    StatusFlag,
    StoreFlag,
)
from spec import fingerprint as contract_fingerprint
from spec.protocol import IDENTIFY_MAGIC, code_bytes, result_bytes

from .link import DeviceError, LinkError, SerialTransport, Transport, encode_request, read_response

__all__ = ["Device", "DeviceInfo", "DeviceStatus"]


@dataclass(frozen=True)
class DeviceInfo:
    """What IDENTIFY reports: the protocol version and the design's parameters."""

    protocol: int
    lanes: int
    act_bits: int
    word_bits: int
    depth: int
    weight_depth: int
    acc_bits: int
    result_depth: int
    max_payload: int
    fingerprint: int
    network: int = 0
    engine_cycles: int = 0
    engine_lanes: int = 0
    source: int = 0

    @property
    def random_source(self) -> str:
        """The store path's random source, as :data:`spec.SOURCES` names it."""
        if not 0 <= self.source < len(SOURCES):
            raise LinkError(f"IDENTIFY reports random source {self.source}, which this host "
                            f"does not know (it knows {', '.join(SOURCES)})")  # fmt: skip
        return SOURCES[self.source]

    @property
    def seed_bits(self) -> int:
        """Width of a SET_SEED seed: the random source's state."""
        return BinarizerSpec(source=self.random_source).seed_bits

    @property
    def has_engine(self) -> bool:
        """The bitstream carries an inference engine (LOAD_IMAGE, READ_LOGITS)."""
        return self.network != 0

    @property
    def network_fingerprint(self) -> str:
        """The engine's network, as ``IntNetwork.fingerprint()`` writes it ("" if none)."""
        return f"{self.network:016x}" if self.network else ""

    @property
    def spec_fingerprint(self) -> str:
        """The bitstream's contract fingerprint, as :func:`spec.fingerprint` writes it."""
        return f"{self.fingerprint:016x}"

    @property
    def matches_spec(self) -> bool:
        """True iff the bitstream was built from the same contract as this host's spec/."""
        return self.spec_fingerprint == contract_fingerprint()

    @property
    def code_bytes(self) -> int:
        """Bytes per activation code on the wire: 1 up to 8 bits, else 2."""
        return code_bytes(self.act_bits)

    @property
    def word_bytes(self) -> int:
        """Bytes per packed word on the wire."""
        return self.word_bits // 8

    @property
    def result_bytes(self) -> int:
        """Bytes per dot-product result on the wire."""
        return result_bytes(self.acc_bits)


@dataclass(frozen=True)
class DeviceStatus:
    """What READ_STATUS reports."""

    flags: StatusFlag
    count: int  #: words in the activation SRAM
    pending: int  #: results waiting in the result buffer
    errors: int  #: frames refused by the link since CLEAR_STATUS


def _mode(mode: Mode | str) -> Mode:
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str) and mode.upper() in Mode.__members__:
        return Mode[mode.upper()]
    raise ValueError(f"mode must be a Mode or one of xnor, and, code; not {mode!r}")


def _int_list(name: str, values: Iterable[int], bits: int) -> list[int]:
    out = [int(v) for v in values]
    bad = [v for v in out if not 0 <= v < 1 << bits]
    if bad:
        raise ValueError(f"{name} must be in 0..{(1 << bits) - 1}, not {bad[0]}")
    return out


def _pack(values: Sequence[int], size: int) -> bytes:
    return b"".join(v.to_bytes(size, "little") for v in values)


def _unpack(data: bytes, size: int, *, signed: bool = False) -> list[int]:
    if len(data) % size:
        raise LinkError(f"{len(data)} bytes is not a whole number of {size}-byte items")
    return [
        int.from_bytes(data[k : k + size], "little", signed=signed)
        for k in range(0, len(data), size)
    ]


class Device:
    """A board running the sbq top, over any :class:`~host.link.Transport`.

    Parameters
    ----------
    transport : Transport
        The byte pipe (:class:`~host.link.SerialTransport`, or a fake in tests).
    spec : LinkSpec, optional
        Frame format; must be the bitstream's (the default spec if omitted).
    timeout : float
        Seconds to wait for each answer. A malformed request is answered only after
        the line has been quiet for ``spec.timeout_us``, so keep it well above that.

    Examples
    --------
    ::

        with Device.open("/dev/ttyUSB1") as dev:
            print(dev.identify())
            dev.set_seed(0x1234)
            dev.store_codes(codes)
            words = dev.read_words(0, dev.info.depth)
    """

    def __init__(self, transport: Transport, spec: LinkSpec | None = None, *, timeout: float = 1.0):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must have write() and read(), not {transport!r}")
        self.transport = transport
        self.spec = LinkSpec() if spec is None else spec
        self.timeout = timeout
        self._info: DeviceInfo | None = None

    @classmethod
    def open(cls, port: str, spec: LinkSpec | None = None, *, timeout: float = 1.0) -> Device:
        """A device on serial ``port`` at ``spec.baud`` (needs pyserial)."""
        spec = LinkSpec() if spec is None else spec
        return cls(SerialTransport(port, spec.baud), spec, timeout=timeout)

    def close(self) -> None:
        """Close the transport, if it can be closed."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Device:
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the raw exchange ------------------------------------------------------------

    def command(self, opcode: Opcode, payload: bytes = b"") -> bytes:
        """Send one request and return the payload of its OK answer.

        Raises
        ------
        DeviceError
            The answer's status is not OK.
        LinkError
            No whole answer within ``timeout`` (:class:`~host.link.LinkTimeout`), a
            malformed one, or an OK answer to another opcode.
        """
        self.transport.write(encode_request(opcode, payload, self.spec))
        response = read_response(self.transport, self.spec, self.timeout)
        if response.status != Status.OK:
            raise DeviceError(response.status, response.opcode)
        if response.opcode != opcode:
            raise LinkError(
                f"answer to opcode {int(response.opcode):#04x} for a request with opcode "
                f"{int(opcode):#04x}"
            )
        return response.payload

    def _call(
        self, opcode: Opcode, tail: bytes = b"", **fields: int
    ) -> tuple[dict[str, int], bytes]:
        payload = REQUESTS[opcode].pack(fields, tail)
        try:
            return RESPONSES[opcode].unpack(self.command(opcode, payload))
        except ValueError as e:
            raise LinkError(f"malformed {opcode.name} answer: {e}") from None

    # --- one method per opcode -------------------------------------------------------

    def identify(self) -> DeviceInfo:
        """IDENTIFY: the design's parameters (also cached as :attr:`info`).

        Raises
        ------
        LinkError
            A wrong magic, a protocol version other than ``spec.protocol_version`` or a
            random source this host does not know.
        """
        values, _ = self._call(Opcode.IDENTIFY)
        if values.pop("magic") != IDENTIFY_MAGIC:
            raise LinkError("IDENTIFY answer lacks the 'sbq' magic: not an sbq bitstream")
        if values["protocol"] != self.spec.protocol_version:
            raise LinkError(
                f"device speaks protocol {values['protocol']}, this host "
                f"{self.spec.protocol_version}"
            )
        info = DeviceInfo(**values)
        _ = info.random_source  # refuses a source this host cannot name
        self._info = info
        return info

    @property
    def info(self) -> DeviceInfo:
        """The IDENTIFY answer, asked for once."""
        return self._info if self._info is not None else self.identify()

    def set_seed(self, seed: int) -> None:
        """SET_SEED: load ``seed`` into the binarizer's random source: non-zero and at
        most :attr:`DeviceInfo.seed_bits` bits (64 for the shared LFSR, 32 for an LFSR
        per lane, as IDENTIFY reports).

        Raises
        ------
        ValueError
            A seed the device's source cannot take (checked before anything is sent).
        """
        bits = self.info.seed_bits
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 < seed < 1 << bits:
            raise ValueError(f"seed must be an integer in 1..2**{bits} - 1 for the device's "
                             f"{self.info.random_source} random source, not {seed!r}")  # fmt: skip
        self._call(Opcode.SET_SEED, seed=seed)

    def store_codes(self, codes: Iterable[int], *, clear: bool = True, last: bool = True) -> int:
        """STORE_CODES: binarize ``codes`` into the activation SRAM; returns its word
        count afterwards.

        The codes go in as many frames as they need, padded with zeros to a whole
        number of beats (code 0 always binarizes to 0, matching the SRAM's zero
        padding). ``clear`` starts a new tensor at word 0; ``last`` ends the tensor
        (writes its partial final word).
        """
        info = self.info
        values = _int_list("codes", codes, info.act_bits)
        values += [0] * (-len(values) % info.lanes)
        per_frame = (info.max_payload - REQUESTS[Opcode.STORE_CODES].fixed_bytes) // (
            info.code_bytes
        )
        per_frame -= per_frame % info.lanes
        if per_frame == 0:
            raise ValueError(f"max_payload={info.max_payload} cannot hold {info.lanes} codes")
        chunks = [values[k : k + per_frame] for k in range(0, len(values), per_frame)] or [[]]
        count = 0
        for n, chunk in enumerate(chunks):
            flags = StoreFlag(0)
            if clear and n == 0:
                flags |= StoreFlag.CLEAR
            if last and n == len(chunks) - 1:
                flags |= StoreFlag.LAST
            answer, _ = self._call(
                Opcode.STORE_CODES, _pack(chunk, info.code_bytes), flags=int(flags)
            )
            count = answer["count"]
        return count

    def read_words(self, addr: int, n: int) -> list[int]:
        """READ_WORDS: ``n`` packed words of the activation SRAM from word ``addr``."""
        info = self.info
        per_frame = info.max_payload // info.word_bytes
        words: list[int] = []
        while len(words) < n:
            k = min(per_frame, n - len(words))
            _, tail = self._call(Opcode.READ_WORDS, addr=addr + len(words), n=k)
            got = _unpack(tail, info.word_bytes)
            if len(got) != k:
                raise LinkError(f"READ_WORDS asked for {k} words, got {len(got)}")
            words += got
        return words

    def load_weights(self, words: Iterable[int], addr: int = 0) -> None:
        """LOAD_WEIGHTS: write packed weight words (SPEC section 5 bit order: weight
        ``k`` is bit ``k % word_bits`` of word ``k // word_bits``) from word ``addr``."""
        info = self.info
        values = _int_list("words", words, info.word_bits)
        fixed = REQUESTS[Opcode.LOAD_WEIGHTS].fixed_bytes
        per_frame = (info.max_payload - fixed) // info.word_bytes
        for k in range(0, len(values), per_frame):
            chunk = values[k : k + per_frame]
            self._call(Opcode.LOAD_WEIGHTS, _pack(chunk, info.word_bytes), addr=addr + k)

    def run_dot(
        self,
        mode: Mode | str,
        n: int | None = None,
        *,
        w_addr: int = 0,
        a_addr: int = 0,
        codes: Sequence[int] | None = None,
    ) -> int:
        """RUN_DOT: one dot product of ``n`` elements; its result joins the result
        buffer. Returns the number of results waiting.

        ``xnor``/``and``: weights from word ``w_addr`` of the weight buffer, activation
        bits from word ``a_addr`` of the activation SRAM. ``code``: activation
        ``codes`` from the request (``n`` defaults to their number; ``a_addr`` unused).
        """
        mode = _mode(mode)
        info = self.info
        tail = b""
        if mode is Mode.CODE:
            if codes is None:
                raise ValueError("code mode needs codes")
            values = _int_list("codes", codes, info.act_bits)
            n = len(values) if n is None else n
            if n != len(values):
                raise ValueError(f"n={n} but {len(values)} codes")
            tail = _pack(values, info.code_bytes)
        elif codes is not None:
            raise ValueError(f"{mode.name.lower()} mode takes its activations from the SRAM")
        if n is None:
            raise ValueError("n is needed in xnor and and modes")
        answer, _ = self._call(
            Opcode.RUN_DOT, tail, mode=mode.value, w_addr=w_addr, a_addr=a_addr, n=n
        )
        return answer["pending"]

    def read_results(self, n: int) -> list[int]:
        """READ_RESULTS: pop up to ``n`` signed results, oldest first (fewer if fewer
        are waiting)."""
        info = self.info
        per_frame = info.max_payload // info.result_bytes
        results: list[int] = []
        while len(results) < n:
            k = min(per_frame, n - len(results))
            _, tail = self._call(Opcode.READ_RESULTS, n=k)
            got = _unpack(tail, info.result_bytes, signed=True)
            if len(got) > k:
                raise LinkError(f"READ_RESULTS asked for at most {k} results, got {len(got)}")
            results += got
            if len(got) < k:
                break
        return results

    def read_status(self) -> DeviceStatus:
        """READ_STATUS: sticky flags and counters."""
        values, _ = self._call(Opcode.READ_STATUS)
        return DeviceStatus(
            flags=StatusFlag(values["flags"]),
            count=values["count"],
            pending=values["pending"],
            errors=values["errors"],
        )

    def clear_status(self) -> None:
        """CLEAR_STATUS: clear the sticky flags and the link's error count."""
        self._call(Opcode.CLEAR_STATUS)

    def load_image(self, pixels: bytes, offset: int = 0) -> int:
        """LOAD_IMAGE: image bytes from ``offset`` on (pixel by pixel, channels fastest);
        offset 0 starts a new image. Returns the bytes the engine now holds; it runs the
        network when it holds the whole image. Use :meth:`classify` for whole images."""
        values, _ = self._call(Opcode.LOAD_IMAGE, bytes(pixels), offset=offset)
        return values["received"]

    def read_logits(self) -> list[int] | None:
        """READ_LOGITS: the logits of the last whole image, or None while the engine is
        still computing them (the device answered BUSY)."""
        try:
            _, tail = self._call(Opcode.READ_LOGITS)
        except DeviceError as e:
            if e.status == Status.BUSY:
                return None
            raise
        return _unpack(tail, LOGIT_BYTES, signed=True)

    def run_to(self, index: int | None, *, poll: float = 0.0) -> None:
        """RUN_TO: the engine stops after pass ``index`` (of ``EngineSpec.passes``; one
        whose output can be read back) on this and every later image, or nowhere
        (None). A stopped engine runs on to the new stop. While the engine computes
        (BUSY), asks again every ``poll`` seconds."""
        index = NO_STOP if index is None else index
        while True:
            try:
                self._call(Opcode.RUN_TO, index=index)
                return
            except DeviceError as e:
                if e.status != Status.BUSY:
                    raise
            time.sleep(poll)

    def read_layer(self, addr: int, n: int) -> list[int] | None:
        """READ_LAYER: ``n`` words from word ``addr`` of the output of the pass the
        engine stopped after, ``engine_lanes`` signed values a word (one pixel's
        channels), in as many frames as they need; None while the engine is still
        computing (BUSY)."""
        lanes = self.info.engine_lanes
        per_frame = self.info.max_payload // (lanes * LOGIT_BYTES)
        values: list[int] = []
        for at in range(addr, addr + max(n, 1), per_frame):
            k = min(per_frame, addr + n - at)
            try:
                _, tail = self._call(Opcode.READ_LAYER, addr=at, n=k)
            except DeviceError as e:
                if e.status == Status.BUSY:
                    return None
                raise
            got = _unpack(tail, LOGIT_BYTES, signed=True)
            if len(got) != k * lanes:
                raise LinkError(f"READ_LAYER asked for {k * lanes} values, got {len(got)}")
            values += got
        return values

    def send_image(self, image: bytes) -> None:
        """An image's bytes in LOAD_IMAGE frames of at most ``max_payload`` bytes; the
        engine runs the network on the last."""
        chunk = self.info.max_payload - REQUESTS[Opcode.LOAD_IMAGE].fixed_bytes
        for at in range(0, len(image), chunk):
            self.load_image(image[at : at + chunk], at)

    def check_network(self, network: str | None) -> None:
        """Raise :class:`LinkError` if the device has no inference engine or (``network``
        given, a fingerprint as ``IntNetwork.fingerprint()`` writes it) runs another."""
        info = self.info
        if not info.has_engine:
            raise LinkError("this bitstream has no inference engine (built without --network)")
        if network is not None and info.network_fingerprint != network:
            raise LinkError(
                f"the device runs network {info.network_fingerprint}, the file given is "
                f"{network}: rebuild with that file or give the device's"
            )

    def classify(
        self, images: Iterable[bytes], *, network: str | None = None, poll: float = 0.0
    ) -> Iterator[list[int]]:
        """The logits of each image (its bytes, pixel by pixel, channels fastest), one
        image at a time: any stop of the engine cleared (RUN_TO), LOAD_IMAGE frames
        (:meth:`send_image`), then READ_LOGITS until the engine has them (sleeping
        ``poll`` seconds between polls).

        Raises
        ------
        LinkError
            As :meth:`check_network`.
        """
        self.check_network(network)
        self.run_to(None, poll=poll)
        for image in images:
            self.send_image(bytes(image))
            while (logits := self.read_logits()) is None:
                time.sleep(poll)
            yield logits
