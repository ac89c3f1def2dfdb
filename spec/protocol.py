"""SPEC section 9: the host link, a framed command protocol over an 8N1 UART.

Every frame, in either direction, is::

    sync | head | length (u16 LE) | payload (length bytes) | CRC (big-endian for a
                                                             non-reflected CRC)

A request's head is one byte, its :class:`Opcode`; a response's head is two bytes,
its :class:`Status` then the opcode it answers (echoed as received). The CRC covers
every byte after ``sync`` up to the end of the payload. The gateware
(``hw/link.py``) and the host driver (``host/``) both read this module; neither
defines a byte of the format itself. ``docs/protocol.md`` documents it with a worked
frame.

Payload layouts are tables (:data:`REQUESTS`, :data:`RESPONSES`) of little-endian
unsigned fields followed, for some opcodes, by a variable-length tail; the host packs
and unpacks with them and the receiver checks request lengths against them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from ._base import SpecBase, check_int
from .encoding import MAX_ACT_BITS

#: Fewest clocks per UART bit the receiver works at: a 2-FF synchronizer plus mid-bit
#: sampling needs the bit to last well over the synchronizer's two-cycle uncertainty.
MIN_CLOCKS_PER_BIT = 4
#: Highest baud the link is specified for: the Arty's FT2232H tops out at 3 Mbaud in
#: UART mode (FTDI DS_FT2232H, section 4.1, "up to 12 Mbaud" is only for its own clock).
MAX_BAUD = 3_000_000
MIN_BAUD = 300
#: Largest mismatch between the baud asked for and the one a whole number of clocks per
#: bit gives. 8N1 tolerates about 5 % between the two ends in total (sampling at
#: mid-bit drifts half a bit over 10 bits); half of that is left to the other end.
MAX_BAUD_ERROR_PERCENT = 2
#: The length field is 16 bits.
MAX_PAYLOAD_LIMIT = 0xFFFF
#: Bytes of a request frame before its payload: sync, opcode, length (2).
REQUEST_HEADER_BYTES = 4
#: Bytes of a response frame before its payload: sync, status, opcode, length (2).
RESPONSE_HEADER_BYTES = 5
#: Magic of the IDENTIFY response, the ASCII bytes ``sbq`` as a little-endian field.
IDENTIFY_MAGIC = int.from_bytes(b"sbq", "little")


class Opcode(IntEnum):
    """Request opcodes; the value is the frame's opcode byte. Payloads: :data:`REQUESTS`
    and :data:`RESPONSES`, documented in ``docs/protocol.md``."""

    IDENTIFY = 0x01  #: report the protocol version and the design's parameters
    SET_SEED = 0x02  #: load a new LFSR seed into the binarizer
    STORE_CODES = 0x03  #: binarize activation codes into the activation SRAM
    READ_WORDS = 0x04  #: read packed words from the activation SRAM by address
    LOAD_WEIGHTS = 0x05  #: write packed weight words into the weight buffer
    RUN_DOT = 0x06  #: one dot product through the XNOR/accumulate datapath
    READ_RESULTS = 0x07  #: pop dot-product results from the result buffer
    READ_STATUS = 0x08  #: sticky flags, counters
    CLEAR_STATUS = 0x09  #: clear the sticky flags and the link error counter
    LOAD_IMAGE = 0x0A  #: bytes of an image into the inference engine (it runs on the last)
    READ_LOGITS = 0x0B  #: the logits of the engine's last image
    RUN_TO = 0x0C  #: stop the engine after a pass (and resume it from a stop)
    READ_LAYER = 0x0D  #: read the output of the pass the engine stopped after


class Status(IntEnum):
    """Response status byte. ``0x01..0x0F``: the link layer refused the frame (no
    command ran); ``0x10..``: the command handler refused or failed the command."""

    OK = 0x00  #: the command ran; the payload is its response
    BAD_CRC = 0x01  #: the CRC did not match (answered once the line has gone quiet)
    UNKNOWN_OPCODE = 0x02  #: well-formed frame, opcode not implemented
    TOO_LONG = 0x03  #: length field beyond ``max_payload`` (answered once quiet)
    FRAMING = 0x04  #: a byte of the frame had a bad stop bit (answered once quiet)
    OVERRUN = 0x05  #: a byte of the frame was lost in the UART (answered once quiet)
    TIMEOUT = 0x06  #: the frame stopped arriving before its end
    BAD_LENGTH = 0x10  #: payload length not allowed for this opcode
    BAD_ARGUMENT = 0x11  #: a field out of range (zero seed, address past the end, ...)
    OVERFLOW = 0x12  #: the command ran but a buffer overflowed (sticky flag set)
    BUSY = 0x13  #: the device cannot take this command now


class StoreFlag(IntFlag):
    """``flags`` byte of a STORE_CODES request."""

    LAST = 0x01  #: the final beat of this request ends the tensor (partial word written)
    CLEAR = 0x02  #: empty the SRAM's write side before storing (a new tensor at word 0)


class StatusFlag(IntFlag):
    """``flags`` field of a READ_STATUS response (sticky until CLEAR_STATUS)."""

    SRAM_OVERFLOW = 0x01  #: a word was refused because the activation SRAM was full
    SEED_ERROR = 0x02  #: a zero seed was refused
    RESULT_OVERFLOW = 0x04  #: a dot-product result was lost because the buffer was full
    LINK_ERROR = 0x08  #: at least one frame was answered with a link-layer error


@dataclass(frozen=True)
class PayloadLayout:
    """A payload: fixed little-endian unsigned ``fields`` (name, bytes), in order, then
    optionally a variable-length ``tail`` of raw bytes (its meaning is the opcode's).

    >>> REQUESTS[Opcode.READ_WORDS].pack({"addr": 16, "n": 2}).hex()
    '100000000200'
    >>> REQUESTS[Opcode.READ_WORDS].unpack(bytes.fromhex("100000000200"))
    ({'addr': 16, 'n': 2}, b'')
    """

    fields: tuple[tuple[str, int], ...] = ()
    tail: str | None = None

    def __post_init__(self) -> None:
        names = [name for name, _ in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names must be unique, not {names}")
        for name, size in self.fields:
            check_int(f"size of field {name!r}", size, 1, 8)

    @property
    def fixed_bytes(self) -> int:
        """Bytes of the fixed fields."""
        return sum(size for _, size in self.fields)

    def offset(self, name: str) -> int:
        """Byte offset of field ``name`` in the payload."""
        at = 0
        for field_name, size in self.fields:
            if field_name == name:
                return at
            at += size
        raise KeyError(name)

    def length_range(self, max_payload: int) -> tuple[int, int]:
        """Allowed payload lengths ``(lo, hi)``: exactly the fixed part without a tail,
        up to ``max_payload`` with one."""
        lo = self.fixed_bytes
        return (lo, max_payload if self.tail is not None else lo)

    def pack(self, values: Mapping[str, int], tail: bytes = b"") -> bytes:
        """The payload bytes for field ``values`` and ``tail``.

        Raises
        ------
        ValueError
            A missing or unknown field, a value that does not fit its field, or a tail
            for a layout without one.
        """
        unknown = set(values) - {name for name, _ in self.fields}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        if tail and self.tail is None:
            raise ValueError("this payload has no tail")
        out = bytearray()
        for name, size in self.fields:
            if name not in values:
                raise ValueError(f"field {name!r} is missing")
            value = check_int(name, values[name], 0, (1 << (8 * size)) - 1)
            out += value.to_bytes(size, "little")
        return bytes(out) + bytes(tail)

    def unpack(self, payload: bytes) -> tuple[dict[str, int], bytes]:
        """Field values and the tail of ``payload``.

        Raises
        ------
        ValueError
            ``payload`` shorter than the fixed fields, or longer without a tail.
        """
        lo = self.fixed_bytes
        if len(payload) < lo or (self.tail is None and len(payload) != lo):
            want = f"{lo}" if self.tail is None else f"at least {lo}"
            raise ValueError(f"payload must have {want} bytes, not {len(payload)}")
        values, at = {}, 0
        for name, size in self.fields:
            values[name] = int.from_bytes(payload[at : at + size], "little")
            at += size
        return values, bytes(payload[at:])


#: Request payload of each opcode. Tails: ``codes`` one byte per activation code
#: (two, little-endian, when ``act_bits > 8``); ``words`` packed words of
#: ``word_bits // 8`` bytes each, little-endian (SPEC section 5 bit order); ``pixels``
#: an image's bytes from ``offset`` on, pixel by pixel, channels fastest.
REQUESTS: dict[Opcode, PayloadLayout] = {
    Opcode.IDENTIFY: PayloadLayout(),
    Opcode.SET_SEED: PayloadLayout((("seed", 8),)),
    Opcode.STORE_CODES: PayloadLayout((("flags", 1),), tail="codes"),
    Opcode.READ_WORDS: PayloadLayout((("addr", 4), ("n", 2))),
    Opcode.LOAD_WEIGHTS: PayloadLayout((("addr", 4),), tail="words"),
    Opcode.RUN_DOT: PayloadLayout(
        (("mode", 1), ("w_addr", 4), ("a_addr", 4), ("n", 4)), tail="codes"
    ),
    Opcode.READ_RESULTS: PayloadLayout((("n", 2),)),
    Opcode.READ_STATUS: PayloadLayout(),
    Opcode.CLEAR_STATUS: PayloadLayout(),
    Opcode.LOAD_IMAGE: PayloadLayout((("offset", 4),), tail="pixels"),
    Opcode.READ_LOGITS: PayloadLayout(),
    Opcode.RUN_TO: PayloadLayout((("index", 2),)),
    Opcode.READ_LAYER: PayloadLayout((("addr", 4), ("n", 2))),
}

#: Response payload (status OK) of each opcode; any other status has an empty payload.
#: Tails: ``words`` as in :data:`REQUESTS`; ``results`` signed two's-complement
#: little-endian dot products of :func:`result_bytes` bytes each; ``logits`` one per
#: class, :data:`LOGIT_BYTES` signed little-endian bytes each.
RESPONSES: dict[Opcode, PayloadLayout] = {
    Opcode.IDENTIFY: PayloadLayout(
        (
            ("magic", 3),
            ("protocol", 1),
            ("lanes", 2),
            ("act_bits", 1),
            ("word_bits", 1),
            ("depth", 4),
            ("weight_depth", 4),
            ("acc_bits", 1),
            ("result_depth", 2),
            ("max_payload", 2),
            # spec.fingerprint() of the contract the bitstream was built from (16 hex
            # digits as a little-endian 64-bit field): the host compares it with its own.
            ("fingerprint", 8),
            # The inference engine's network (``IntNetwork.fingerprint()``, 16 hex digits
            # as a little-endian 64-bit field); 0: no engine.
            ("network", 8),
            # Its cycles per image and its lanes: channels per word of a READ_LAYER
            # answer (0: no engine).
            ("engine_cycles", 4),
            ("engine_lanes", 2),
            # The store path's random source: its index in ``spec.SOURCES`` (0: an LFSR
            # per lane, 1: one shared LFSR).
            ("source", 1),
        )
    ),
    Opcode.SET_SEED: PayloadLayout(),
    Opcode.STORE_CODES: PayloadLayout((("count", 4),)),
    Opcode.READ_WORDS: PayloadLayout(tail="words"),
    Opcode.LOAD_WEIGHTS: PayloadLayout(),
    Opcode.RUN_DOT: PayloadLayout((("pending", 2),)),
    Opcode.READ_RESULTS: PayloadLayout(tail="results"),
    Opcode.READ_STATUS: PayloadLayout((("flags", 2), ("count", 4), ("pending", 2), ("errors", 2))),
    Opcode.CLEAR_STATUS: PayloadLayout(),
    Opcode.LOAD_IMAGE: PayloadLayout((("received", 4),)),
    Opcode.READ_LOGITS: PayloadLayout(tail="logits"),
    Opcode.RUN_TO: PayloadLayout(),
    Opcode.READ_LAYER: PayloadLayout(tail="values"),
}

#: Bytes of one logit in a READ_LOGITS answer, and of one value in a READ_LAYER answer
#: (signed, little-endian).
LOGIT_BYTES = 4
#: RUN_TO's ``index`` that sets no stop: the engine runs through to the logits.
NO_STOP = 0xFFFF

#: Smallest ``max_payload``: the longest fixed part of any request or response.
MIN_MAX_PAYLOAD = max(layout.fixed_bytes for layout in (*REQUESTS.values(), *RESPONSES.values()))


@functools.cache
def _crc_table(width: int, polynomial: int) -> tuple[int, ...]:
    """The register after shifting each byte value through the polynomial (MSB first)."""
    top, mask, table = 1 << (width - 1), (1 << width) - 1, []
    for byte in range(256):
        reg = byte << (width - 8)
        for _ in range(8):
            reg = ((reg << 1) ^ polynomial) if reg & top else reg << 1
        table.append(reg & mask)
    return tuple(table)


def _reflect(value: int, bits: int) -> int:
    return int(f"{value:0{bits}b}"[::-1], 2)


def code_bytes(act_bits: int) -> int:
    """Bytes per activation code on the wire (``codes`` tails): 1 up to 8-bit codes,
    else 2 (little-endian)."""
    check_int("act_bits", act_bits, 1, MAX_ACT_BITS)
    return 1 if act_bits <= 8 else 2


def result_bytes(acc_bits: int) -> int:
    """Bytes per dot-product result on the wire: 4 up to 32-bit accumulators, else 8."""
    check_int("acc_bits", acc_bits, 2, 64)
    return 4 if acc_bits <= 32 else 8


def clocks_per_bit(clk_hz: int, baud: int) -> int:
    """Whole clock cycles per UART bit at ``clk_hz`` for ``baud``, rounded to nearest.

    Raises
    ------
    ValueError
        ``baud`` outside 300..3_000_000, fewer than :data:`MIN_CLOCKS_PER_BIT` clocks
        per bit, or a rate more than :data:`MAX_BAUD_ERROR_PERCENT` % off ``baud``.
    """
    check_int("clk_hz", clk_hz, 1)
    check_int("baud", baud, MIN_BAUD, MAX_BAUD)
    cpb = (2 * clk_hz + baud) // (2 * baud)
    if cpb < MIN_CLOCKS_PER_BIT:
        raise ValueError(
            f"baud {baud} needs at least {MIN_CLOCKS_PER_BIT} clocks per bit; "
            f"a {clk_hz} Hz clock gives {clk_hz / baud:.2f}"
        )
    if abs(clk_hz - cpb * baud) * 100 > MAX_BAUD_ERROR_PERCENT * cpb * baud:
        raise ValueError(
            f"baud {baud} from a {clk_hz} Hz clock is {clk_hz / cpb:.0f} at {cpb} clocks "
            f"per bit, more than {MAX_BAUD_ERROR_PERCENT} % off"
        )
    return cpb


@dataclass(frozen=True)
class LinkSpec(SpecBase):
    """The host link's frame format and line settings (SPEC section 9).

    Frames are ``sync | head | length | payload | CRC`` (module docstring). The CRC is
    given by its Rocksoft/Williams parameters (the ones ``amaranth.lib.crc.Algorithm``
    takes); the default is CRC-16/IBM-3740, a.k.a. CRC-16/CCITT-FALSE (check value
    ``0x29B1`` over ``b"123456789"``, reveng.sourceforge.io CRC catalogue), which
    Amaranth's catalogue names ``CRC16_CCITT_FALSE``. It is sent most significant byte
    first when not reflected, least significant first when reflected: the order in
    which it leaves a shift register, so a receiver can check a whole frame by its
    residue.

    Parameters
    ----------
    sync : int
        First byte of every frame, 0..255. A receiver drops bytes until it sees it.
    max_payload : int
        Longest payload either side accepts, :data:`MIN_MAX_PAYLOAD` (44, the
        IDENTIFY response)..65535; the receiver buffers one.
    crc_width : int
        8, 16 or 32.
    crc_polynomial, crc_initial, crc_xor_output : int
        Generator polynomial (without its top bit), register start value, and value
        XORed into the result; each below ``2**crc_width``.
    crc_reflect : bool
        Reflect input bytes and the output (both or neither).
    baud : int
        Line rate, 300..3_000_000 bit/s, 8N1.
    timeout_us : int
        Quiet time after which a partly received frame is abandoned, 1..10_000_000 us;
        at least 2 byte times (20 bits) at ``baud`` so a continuous frame never trips it.
    protocol_version : int
        Reported by IDENTIFY, 1..255; raise it when an opcode's payload changes.

    Raises
    ------
    ValueError
        A field out of range, a CRC parameter wider than ``crc_width``, or a timeout
        shorter than 20 bit times.
    TypeError
        A non-integer field, or a non-bool ``crc_reflect``.
    """

    sync: int = 0xA5
    max_payload: int = 1024
    crc_width: int = 16
    crc_polynomial: int = 0x1021
    crc_initial: int = 0xFFFF
    crc_reflect: bool = False
    crc_xor_output: int = 0x0000
    baud: int = 115_200
    timeout_us: int = 10_000
    protocol_version: int = 5

    def __post_init__(self) -> None:
        check_int("sync", self.sync, 0, 0xFF)
        check_int("max_payload", self.max_payload, MIN_MAX_PAYLOAD, MAX_PAYLOAD_LIMIT)
        check_int("crc_width", self.crc_width, 8, 32)
        if self.crc_width not in (8, 16, 32):
            raise ValueError(f"crc_width must be one of 8, 16, 32, not {self.crc_width}")
        top = (1 << self.crc_width) - 1
        check_int("crc_polynomial", self.crc_polynomial, 1, top)
        check_int("crc_initial", self.crc_initial, 0, top)
        check_int("crc_xor_output", self.crc_xor_output, 0, top)
        if not isinstance(self.crc_reflect, bool):
            raise TypeError(f"crc_reflect must be a bool, not {self.crc_reflect!r}")
        check_int("baud", self.baud, MIN_BAUD, MAX_BAUD)
        check_int("timeout_us", self.timeout_us, 1, 10_000_000)
        if self.timeout_us * self.baud < 20 * 1_000_000:
            raise ValueError(
                f"timeout_us must be at least 20 bit times ({-(-20_000_000 // self.baud)} us "
                f"at baud {self.baud}), not {self.timeout_us}"
            )
        check_int("protocol_version", self.protocol_version, 1, 0xFF)

    @property
    def crc_bytes(self) -> int:
        """Bytes of CRC at the end of a frame."""
        return self.crc_width // 8

    @property
    def crc_byteorder(self) -> str:
        """``"big"`` (non-reflected CRC) or ``"little"`` (reflected): the wire order."""
        return "little" if self.crc_reflect else "big"

    @property
    def crc_parameters(self) -> dict[str, int | bool]:
        """The CRC as keyword arguments of ``amaranth.lib.crc.Algorithm``."""
        return {
            "crc_width": self.crc_width,
            "polynomial": self.crc_polynomial,
            "initial_crc": self.crc_initial,
            "reflect_input": self.crc_reflect,
            "reflect_output": self.crc_reflect,
            "xor_output": self.crc_xor_output,
        }

    def crc(self, data: bytes) -> int:
        """The CRC of ``data`` by this spec's algorithm, in software: the Rocksoft model
        (reflect input bytes, shift through the polynomial, reflect the register, XOR),
        table-driven. The gateware builds the same algorithm from :attr:`crc_parameters`
        with ``amaranth.lib.crc``; the host and the device model call this.

        >>> hex(LinkSpec().crc(b"123456789"))  # CRC-16/CCITT-FALSE check value
        '0x29b1'
        """
        table, width = _crc_table(self.crc_width, self.crc_polynomial), self.crc_width
        mask, shift, reg = (1 << width) - 1, width - 8, self.crc_initial
        for byte in data:
            if self.crc_reflect:
                byte = _reflect(byte, 8)
            reg = ((reg << 8) & mask) ^ table[(reg >> shift) ^ byte]
        if self.crc_reflect:
            reg = _reflect(reg, width)
        return reg ^ self.crc_xor_output

    def with_crc(self, data: bytes) -> bytes:
        """``data`` followed by its CRC in wire order (:attr:`crc_byteorder`)."""
        return bytes(data) + self.crc(data).to_bytes(self.crc_bytes, self.crc_byteorder)  # type: ignore[arg-type]

    def clocks_per_bit(self, clk_hz: int) -> int:
        """Clocks per bit at ``clk_hz`` for this ``baud`` (see :func:`clocks_per_bit`)."""
        return clocks_per_bit(clk_hz, self.baud)

    def timeout_cycles(self, clk_hz: int) -> int:
        """``timeout_us`` in cycles of a ``clk_hz`` clock, rounded up."""
        check_int("clk_hz", clk_hz, 1)
        return -(-self.timeout_us * clk_hz // 1_000_000)

    def request_bytes(self, length: int) -> int:
        """Bytes of a request frame with a ``length``-byte payload."""
        return REQUEST_HEADER_BYTES + check_int("length", length, 0) + self.crc_bytes

    def response_bytes(self, length: int) -> int:
        """Bytes of a response frame with a ``length``-byte payload."""
        return RESPONSE_HEADER_BYTES + check_int("length", length, 0) + self.crc_bytes

    def request_lengths(self) -> dict[int, tuple[int, int]]:
        """Allowed request payload lengths ``(lo, hi)`` by opcode byte, from
        :data:`REQUESTS`: what the receiver checks before a command runs."""
        return {int(op): REQUESTS[op].length_range(self.max_payload) for op in Opcode}
