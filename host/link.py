"""The host side of the link (SPEC section 9): CRC, frame encoding and decoding, the
transport abstraction and its pyserial implementation, and the link's exceptions.

The format is :class:`spec.LinkSpec`'s, the same object the gateware reads
(``hw/link.py``); ``docs/protocol.md`` documents it.

>>> from spec import LinkSpec, Opcode
>>> encode_request(Opcode.IDENTIFY, b"", LinkSpec()).hex(" ")
'a5 01 00 00 fb ac'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from spec import LinkSpec, Opcode, Status
from spec.protocol import REQUEST_HEADER_BYTES, RESPONSE_HEADER_BYTES

__all__ = [
    "DeviceError",
    "LinkError",
    "LinkTimeout",
    "Response",
    "SerialTransport",
    "Transport",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "read_response",
]


class LinkError(Exception):
    """The link failed: a malformed or unexpected frame from the device."""


class LinkTimeout(LinkError):
    """The device did not answer (completely) in time."""


class DeviceError(Exception):
    """The device answered with a status other than OK.

    Attributes
    ----------
    status : Status or int
        The status byte (an int when it is not a known :class:`spec.Status`).
    opcode : Opcode or int
        The opcode the device echoed.
    """

    def __init__(self, status: Status | int, opcode: Opcode | int):
        self.status = _enum(Status, status)
        self.opcode = _enum(Opcode, opcode)
        s = self.status.name if isinstance(self.status, Status) else f"{self.status:#04x}"
        o = self.opcode.name if isinstance(self.opcode, Opcode) else f"{self.opcode:#04x}"
        super().__init__(f"device answered {s} to {o}")


def _enum(cls: Any, value: int) -> Any:
    try:
        return cls(value)
    except ValueError:
        return value


def _check_payload(payload: bytes, spec: LinkSpec) -> bytes:
    payload = bytes(payload)
    if len(payload) > spec.max_payload:
        raise ValueError(f"payload must be at most {spec.max_payload} bytes, not {len(payload)}")
    return payload


def encode_request(opcode: Opcode | int, payload: bytes, spec: LinkSpec) -> bytes:
    """The bytes of a request frame: ``sync | opcode | length | payload | CRC``.

    Raises
    ------
    ValueError
        ``opcode`` outside 0..255 or a payload over ``spec.max_payload``.
    """
    if not 0 <= int(opcode) <= 0xFF:
        raise ValueError(f"opcode must be in 0..255, not {int(opcode)}")
    payload = _check_payload(payload, spec)
    body = bytes([int(opcode)]) + len(payload).to_bytes(2, "little") + payload
    return bytes([spec.sync]) + spec.with_crc(body)


def encode_response(
    status: Status | int, opcode: Opcode | int, payload: bytes, spec: LinkSpec
) -> bytes:
    """The bytes of a response frame: ``sync | status | opcode | length | payload |
    CRC`` (what the device sends; for fakes and tests)."""
    payload = _check_payload(payload, spec)
    body = bytes([int(status), int(opcode)]) + len(payload).to_bytes(2, "little") + payload
    return bytes([spec.sync]) + spec.with_crc(body)


@dataclass(frozen=True)
class Response:
    """A decoded response frame."""

    status: Status | int
    opcode: Opcode | int
    payload: bytes


def _check_frame(frame: bytes, header: int, spec: LinkSpec) -> bytes:
    """The payload of a whole ``frame`` with a ``header``-byte header, checked."""
    if len(frame) < header + spec.crc_bytes or frame[0] != spec.sync:
        raise LinkError(f"not a frame: {frame.hex(' ')}")
    length = int.from_bytes(frame[header - 2 : header], "little")
    if length > spec.max_payload:
        raise LinkError(f"frame length {length} is over max_payload={spec.max_payload}")
    if len(frame) != header + length + spec.crc_bytes:
        raise LinkError(
            f"frame of {len(frame)} bytes, but its length field says "
            f"{header + length + spec.crc_bytes}"
        )
    body, crc = frame[1 : -spec.crc_bytes], frame[-spec.crc_bytes :]
    if spec.with_crc(body)[-spec.crc_bytes :] != crc:
        raise LinkError(f"bad CRC in frame {frame.hex(' ')}")
    return frame[header : -spec.crc_bytes]


def decode_response(frame: bytes, spec: LinkSpec) -> Response:
    """The :class:`Response` in ``frame`` (exactly one whole frame).

    Raises
    ------
    LinkError
        No sync byte first, a wrong length, or a bad CRC.
    """
    payload = _check_frame(bytes(frame), RESPONSE_HEADER_BYTES, spec)
    return Response(_enum(Status, frame[1]), _enum(Opcode, frame[2]), payload)


def decode_request(frame: bytes, spec: LinkSpec) -> tuple[Opcode | int, bytes]:
    """The opcode and payload of a request ``frame`` (for fakes and tests).

    Raises
    ------
    LinkError
        As :func:`decode_response`.
    """
    payload = _check_frame(bytes(frame), REQUEST_HEADER_BYTES, spec)
    return _enum(Opcode, frame[1]), payload


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to the device."""

    def write(self, data: bytes) -> None:
        """Send ``data``."""

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes, waiting at most ``timeout`` seconds for all of them;
        fewer (maybe none) if the time runs out."""


class SerialTransport:
    """A :class:`Transport` over a serial port (the Arty's USB UART), 8N1, via pyserial
    (imported only here, so the rest of the package works without it).

    Parameters
    ----------
    port : str
        Device name (``/dev/ttyUSB1`` for the Arty's UART channel on Linux) or a
        pyserial URL (``loop://`` echoes what is written, for tests).
    baud : int
        Line rate; must equal the bitstream's ``LinkSpec.baud``.
    """

    def __init__(self, port: str, baud: int):
        import serial  # pyserial, imported lazily

        self._serial = serial.serial_for_url(
            port, baudrate=baud, bytesize=8, parity="N", stopbits=1
        )

    def write(self, data: bytes) -> None:
        self._serial.write(data)
        self._serial.flush()

    def read(self, n: int, timeout: float) -> bytes:
        self._serial.timeout = max(timeout, 0.0)
        return bytes(self._serial.read(n))

    def discard_input(self) -> None:
        """Drop whatever the port has buffered."""
        self._serial.reset_input_buffer()

    def close(self) -> None:
        self._serial.close()


def read_response(transport: Transport, spec: LinkSpec, timeout: float) -> Response:
    """Read one response frame, dropping any bytes before its ``sync``.

    Raises
    ------
    LinkTimeout
        The whole frame did not arrive within ``timeout`` seconds.
    LinkError
        It arrived but is malformed (length over ``max_payload``, bad CRC).
    """
    deadline = time.monotonic() + timeout

    def take(n: int, what: str) -> bytes:
        got = b""
        while len(got) < n:
            left = deadline - time.monotonic()
            chunk = transport.read(n - len(got), max(left, 0.0)) if left > 0 else b""
            if not chunk:
                raise LinkTimeout(
                    f"timed out after {timeout} s waiting for {what} ({len(got)} of {n} bytes)"
                )
            got += chunk
        return got

    while take(1, "a response's sync byte")[0] != spec.sync:
        pass
    header = take(RESPONSE_HEADER_BYTES - 1, "a response header")
    length = int.from_bytes(header[-2:], "little")
    if length > spec.max_payload:
        raise LinkError(f"response length {length} is over max_payload={spec.max_payload}")
    rest = take(length + spec.crc_bytes, "a response payload")
    return decode_response(bytes([spec.sync]) + header + rest, spec)
