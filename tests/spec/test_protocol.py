"""spec.protocol (SPEC section 9): LinkSpec validation and derived values, the payload
layouts, and the enums' byte values. Refusals are checked by type and message."""

from __future__ import annotations

import pytest

from spec import REQUESTS, RESPONSES, LinkSpec, Opcode, PayloadLayout, Status
from spec.protocol import (
    IDENTIFY_MAGIC,
    MIN_MAX_PAYLOAD,
    StatusFlag,
    StoreFlag,
    clocks_per_bit,
    code_bytes,
    result_bytes,
)


def test_defaults() -> None:
    s = LinkSpec()
    assert (s.sync, s.max_payload, s.baud, s.timeout_us) == (0xA5, 1024, 115_200, 10_000)
    assert (s.crc_bytes, s.crc_byteorder) == (2, "big")
    assert LinkSpec(crc_reflect=True).crc_byteorder == "little"
    assert s.request_bytes(0) == 6 and s.response_bytes(3) == 10


def test_every_opcode_has_both_layouts_and_bytes_are_distinct() -> None:
    assert set(REQUESTS) == set(RESPONSES) == set(Opcode)
    assert len({int(op) for op in Opcode}) == len(Opcode)
    assert len({int(st) for st in Status}) == len(Status)
    assert all(0 <= int(v) <= 0xFF for v in [*Opcode, *Status])
    assert Status.OK == 0
    assert all(0x01 <= st <= 0x0F for st in Status if st.name in (
        "BAD_CRC", "UNKNOWN_OPCODE", "TOO_LONG", "FRAMING", "OVERRUN", "TIMEOUT"))  # fmt: skip


def test_flags_are_single_bits() -> None:
    for flags in (StoreFlag, StatusFlag):
        assert all(bin(int(f)).count("1") == 1 for f in flags)


def test_identify_magic_is_sbq() -> None:
    assert IDENTIFY_MAGIC.to_bytes(3, "little") == b"sbq"


def test_min_max_payload_is_the_identify_response() -> None:
    assert MIN_MAX_PAYLOAD == RESPONSES[Opcode.IDENTIFY].fixed_bytes == 44
    LinkSpec(max_payload=44)
    with pytest.raises(ValueError, match=r"^max_payload must be in 44\.\.65535, not 43$"):
        LinkSpec(max_payload=43)


def test_request_lengths() -> None:
    lengths = LinkSpec(max_payload=100).request_lengths()
    assert lengths[Opcode.IDENTIFY] == (0, 0)
    assert lengths[Opcode.SET_SEED] == (8, 8)
    assert lengths[Opcode.STORE_CODES] == (1, 100)
    assert lengths[Opcode.RUN_DOT] == (13, 100)
    assert set(lengths) == {int(op) for op in Opcode}


@pytest.mark.parametrize(
    ("clk_hz", "baud", "cpb"),
    [(100_000_000, 115_200, 868), (100_000_000, 3_000_000, 33), (12_000_000, 3_000_000, 4),
     (1_200, 300, 4), (100_000_000, 300, 333_333)],
)  # fmt: skip
def test_clocks_per_bit(clk_hz: int, baud: int, cpb: int) -> None:
    assert clocks_per_bit(clk_hz, baud) == cpb
    assert LinkSpec(baud=baud, timeout_us=10**7).clocks_per_bit(clk_hz) == cpb


def test_timeout_cycles_round_up() -> None:
    assert LinkSpec().timeout_cycles(100_000_000) == 1_000_000
    assert LinkSpec(baud=3_000_000, timeout_us=7).timeout_cycles(1_000_001) == 8


def test_code_bytes() -> None:
    """One byte per code up to 8 bits, two beyond (docs/protocol.md section 5)."""
    assert [code_bytes(b) for b in (1, 8, 9, 16)] == [1, 1, 2, 2]


def test_result_bytes() -> None:
    assert [result_bytes(b) for b in (2, 32, 33, 64)] == [4, 4, 8, 8]
    with pytest.raises(ValueError, match=r"^acc_bits must be in 2\.\.64, not 65$"):
        result_bytes(65)


REFUSALS = [
    ("sync-256", lambda: LinkSpec(sync=256), ValueError, r"^sync must be in 0\.\.255, not 256$"),
    ("crc-width-12", lambda: LinkSpec(crc_width=12), ValueError,
     r"^crc_width must be one of 8, 16, 32, not 12$"),
    ("crc-width-64", lambda: LinkSpec(crc_width=64), ValueError,
     r"^crc_width must be in 8\.\.32, not 64$"),
    ("crc-poly-wide", lambda: LinkSpec(crc_polynomial=0x11021), ValueError,
     r"^crc_polynomial must be in 1\.\.65535, not 69665$"),
    ("crc-poly-0", lambda: LinkSpec(crc_polynomial=0), ValueError,
     r"^crc_polynomial must be in 1\.\.65535, not 0$"),
    ("crc-init-wide", lambda: LinkSpec(crc_width=8, crc_polynomial=7), ValueError,
     r"^crc_initial must be in 0\.\.255, not 65535$"),
    ("crc-xor-neg", lambda: LinkSpec(crc_xor_output=-1), ValueError,
     r"^crc_xor_output must be in 0\.\.65535, not -1$"),
    ("crc-reflect-int", lambda: LinkSpec(crc_reflect=1), TypeError,
     r"^crc_reflect must be a bool, not 1$"),
    ("baud-high", lambda: LinkSpec(baud=3_000_001), ValueError,
     r"^baud must be in 300\.\.3000000, not 3000001$"),
    ("baud-float", lambda: LinkSpec(baud=115200.0), TypeError,
     r"^baud must be an integer, not 115200\.0$"),
    ("timeout-short", lambda: LinkSpec(baud=1200), ValueError,
     r"^timeout_us must be at least 20 bit times \(16667 us at baud 1200\), not 10000$"),
    ("timeout-0", lambda: LinkSpec(timeout_us=0), ValueError,
     r"^timeout_us must be in 1\.\.10000000, not 0$"),
    ("protocol-0", lambda: LinkSpec(protocol_version=0), ValueError,
     r"^protocol_version must be in 1\.\.255, not 0$"),
    ("cpb-3", lambda: clocks_per_bit(9_000_000, 3_000_000), ValueError,
     r"^baud 3000000 needs at least 4 clocks per bit; a 9000000 Hz clock gives 3\.00$"),
    ("cpb-off", lambda: LinkSpec(baud=2_000_000).clocks_per_bit(11_000_000), ValueError,
     r"^baud 2000000 from a 11000000 Hz clock is 1833333 at 6 clocks per bit, more than 2 % "
     r"off$"),
    ("timeout-clk", lambda: LinkSpec().timeout_cycles(0), ValueError,
     r"^clk_hz must be at least 1, not 0$"),
    ("layout-dup", lambda: PayloadLayout((("a", 1), ("a", 2))), ValueError,
     r"^field names must be unique, not \['a', 'a'\]$"),
    ("layout-size", lambda: PayloadLayout((("a", 9),)), ValueError,
     r"^size of field 'a' must be in 1\.\.8, not 9$"),
    ("pack-missing", lambda: REQUESTS[Opcode.READ_WORDS].pack({"addr": 1}), ValueError,
     r"^field 'n' is missing$"),
    ("pack-unknown", lambda: REQUESTS[Opcode.SET_SEED].pack({"seed": 1, "x": 2}), ValueError,
     r"^unknown fields \['x'\]$"),
    ("pack-wide", lambda: REQUESTS[Opcode.READ_RESULTS].pack({"n": 65536}), ValueError,
     r"^n must be in 0\.\.65535, not 65536$"),
    ("pack-tail", lambda: REQUESTS[Opcode.SET_SEED].pack({"seed": 1}, b"x"), ValueError,
     r"^this payload has no tail$"),
    ("unpack-short", lambda: REQUESTS[Opcode.SET_SEED].unpack(b"abc"), ValueError,
     r"^payload must have 8 bytes, not 3$"),
    ("unpack-long", lambda: REQUESTS[Opcode.SET_SEED].unpack(b"abcdefghi"), ValueError,
     r"^payload must have 8 bytes, not 9$"),
    ("unpack-tail-short", lambda: REQUESTS[Opcode.STORE_CODES].unpack(b""), ValueError,
     r"^payload must have at least 1 bytes, not 0$"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "error", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusals(make, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        make()


def test_layout_round_trip_and_offsets() -> None:
    layout = REQUESTS[Opcode.RUN_DOT]
    values = {"mode": 2, "w_addr": 0x01020304, "a_addr": 5, "n": 96}
    payload = layout.pack(values, b"\x07\x08")
    assert payload.hex() == "020403020105000000600000000708"
    assert layout.unpack(payload) == (values, b"\x07\x08")
    assert [layout.offset(n) for n in values] == [0, 1, 5, 9]
    with pytest.raises(KeyError):
        layout.offset("nope")
