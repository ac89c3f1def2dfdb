"""The host driver: talks to the board over its USB UART in the framed protocol of
:class:`spec.LinkSpec` (SPEC section 9, ``docs/protocol.md``).

``link`` has the CRC, frame encoding/decoding, the :class:`~host.link.Transport`
protocol and :class:`~host.link.SerialTransport` (pyserial, imported lazily);
``device`` has :class:`~host.device.Device`, one method per opcode.
"""

from __future__ import annotations

from .device import Device, DeviceInfo, DeviceStatus
from .link import (
    DeviceError,
    LinkError,
    LinkTimeout,
    Response,
    SerialTransport,
    Transport,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    read_response,
)

__all__ = [
    "Device",
    "DeviceError",
    "DeviceInfo",
    "DeviceStatus",
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
