"""The host driver (host/): CRC against Amaranth's, frame round trips, decoding errors,
timeouts, status-to-exception mapping, and every Device method against the device
model (:class:`model.device.DeviceModel`) behind the link's framing."""

from __future__ import annotations

import doctest
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from amaranth.lib import crc

import host
import host.link
import spec.protocol
from golden.network import NETWORK
from host import (
    Device,
    DeviceError,
    DeviceInfo,
    DeviceStatus,
    LinkError,
    LinkTimeout,
    SerialTransport,
    Transport,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    read_response,
)
from host.classify import main as classify_main
from model import infer
from model.binarize import binarize
from model.device import DeviceModel
from model.intnet import IntNetwork, load
from model.pack import pack_bits, unpack_bits
from spec import (
    NO_STOP,
    REQUESTS,
    RESPONSES,
    DeviceSpec,
    LinkSpec,
    Mode,
    Opcode,
    Status,
    StatusFlag,
    StoreFlag,
)
from spec.engine import EngineSpec

SPEC = LinkSpec()
CRC_SPECS = [
    SPEC,
    LinkSpec(crc_reflect=True, crc_initial=0),  # CRC-16/KERMIT
    LinkSpec(crc_width=8, crc_polynomial=0x07, crc_initial=0),  # CRC-8/SMBUS
    LinkSpec(crc_width=32, crc_polynomial=0x04C11DB7, crc_initial=0xFFFFFFFF,
             crc_reflect=True, crc_xor_output=0xFFFFFFFF),  # CRC-32/ISO-HDLC
    LinkSpec(crc_width=16, crc_polynomial=0x8005, crc_initial=0x0000, crc_xor_output=0xFFFF),
]  # fmt: skip


@pytest.mark.parametrize("module", [spec.protocol, host.link])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_all_names_resolve() -> None:
    assert [n for n in host.__all__ if not hasattr(host, n)] == []
    assert len(host.__all__) == len(set(host.__all__))


# --- CRC -------------------------------------------------------------------------------


def test_default_crc_is_amaranths_ccitt_false() -> None:
    ours = crc.Algorithm(**SPEC.crc_parameters)
    theirs = crc.catalog.CRC16_CCITT_FALSE
    for name in ("crc_width", "polynomial", "initial_crc", "reflect_input", "reflect_output",
                 "xor_output"):  # fmt: skip
        assert getattr(ours, name) == getattr(theirs, name), name
    assert SPEC.crc(b"123456789") == 0x29B1  # the catalogue's check value


@pytest.mark.parametrize("spec", CRC_SPECS, ids=lambda s: f"crc{s.crc_width}-{s.fingerprint()}")
def test_crc_matches_amaranth_compute(spec: LinkSpec) -> None:
    ref = crc.Algorithm(**spec.crc_parameters)(data_width=8)
    rng = random.Random(spec.crc_width)
    for n in [0, 1, 2, 9, 100, *(rng.randrange(300) for _ in range(20))]:
        data = bytes(rng.randrange(256) for _ in range(n))
        assert spec.crc(data) == ref.compute(data), data.hex()
    # A frame body with its CRC appended in wire order leaves the residue in the
    # register (what the gateware checks); compute() XORs xor_output into that.
    body = bytes(range(17))
    assert ref.compute(spec.with_crc(body)) ^ spec.crc_xor_output == ref.residue()


# --- encode / decode ---------------------------------------------------------------------


def test_worked_frame_in_docs() -> None:
    """The examples of docs/protocol.md section 6: SET_SEED with seed 0x0123456789ABCDEF, its
    OK answer, the BAD_CRC answer to a corrupted copy, a READ_LOGITS, a RUN_TO and a
    READ_LAYER with their answers; the doc shows these bytes."""
    frame = encode_request(Opcode.SET_SEED, (0x0123456789ABCDEF).to_bytes(8, "little"), SPEC)
    ok = encode_response(Status.OK, Opcode.SET_SEED, b"", SPEC)
    bad_crc = encode_response(Status.BAD_CRC, Opcode.SET_SEED, b"", SPEC)
    # CRC-16/CCITT-FALSE by binascii.crc_hqx(body, 0xFFFF): 0x1E03.
    assert frame.hex(" ") == "a5 02 08 00 ef cd ab 89 67 45 23 01 1e 03"
    assert ok.hex(" ") == "a5 00 02 00 00 ea a0"
    assert bad_crc.hex(" ") == "a5 01 02 00 00 9c 14"
    logits = b"".join(v.to_bytes(4, "little", signed=True) for v in (5, -2, 300))
    ask = encode_request(Opcode.READ_LOGITS, b"", SPEC)
    answer = encode_response(Status.OK, Opcode.READ_LOGITS, logits, SPEC)
    assert ask.hex(" ") == "a5 0b 00 00 3c 6d"
    assert answer.hex(" ") == "a5 00 0b 0c 00 05 00 00 00 fe ff ff ff 2c 01 00 00 81 b4"
    stop = encode_request(Opcode.RUN_TO, REQUESTS[Opcode.RUN_TO].pack({"index": 9}), SPEC)
    stopped = encode_response(Status.OK, Opcode.RUN_TO, b"", SPEC)
    read = encode_request(
        Opcode.READ_LAYER, REQUESTS[Opcode.READ_LAYER].pack({"addr": 2, "n": 1}), SPEC
    )
    values = encode_response(Status.OK, Opcode.READ_LAYER, bytes.fromhex("03000000ffffffff"), SPEC)
    assert stop.hex(" ") == "a5 0c 02 00 09 00 cd d7"
    assert read.hex(" ") == "a5 0d 06 00 02 00 00 00 01 00 7e fb"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    for example in (frame, ok, bad_crc, ask, answer, stop, stopped, read, values):
        assert example.hex(" ") in doc


@pytest.mark.parametrize("spec", CRC_SPECS[:3], ids=["ccitt-false", "kermit", "crc8"])
def test_round_trips(spec: LinkSpec) -> None:
    rng = random.Random(11)
    for n in [0, 1, 5, spec.max_payload]:
        payload = bytes(rng.randrange(256) for _ in range(n))
        opcode = rng.randrange(256)
        frame = encode_request(opcode, payload, spec)
        assert len(frame) == spec.request_bytes(n)
        assert decode_request(frame, spec) == (_enum_or_int(Opcode, opcode), payload)
        reply = encode_response(Status.BAD_ARGUMENT, opcode, payload, spec)
        assert len(reply) == spec.response_bytes(n)
        r = decode_response(reply, spec)
        assert (r.status, r.opcode, r.payload) == (Status.BAD_ARGUMENT, opcode, payload)
        assert r.status is Status.BAD_ARGUMENT


def _enum_or_int(cls: type, value: int) -> object:
    try:
        return cls(value)
    except ValueError:
        return value


def test_unknown_status_and_opcode_decode_as_ints() -> None:
    r = decode_response(encode_response(0x7E, 0xEE, b"", SPEC), SPEC)
    assert (r.status, r.opcode) == (0x7E, 0xEE)
    assert not isinstance(r.status, Status)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), r"^bad CRC in frame a5 00 04"),
        (lambda f: f[:6] + f[7:], r"^frame of 9 bytes, but its length field says 10$"),
        (lambda f: b"\x00" + f[1:], r"^not a frame: 00 00 04"),
        (lambda f: f[:3], r"^not a frame"),
        (lambda f: f[:3] + b"\x01\x08" + f[5:], r"^frame length 2049 is over max_payload=1024$"),
    ],
    ids=["crc", "short", "sync", "stub", "too-long"],
)
def test_decode_refuses_malformed_frames(mangle: Callable[[bytes], bytes], message: str) -> None:
    frame = encode_response(Status.OK, Opcode.READ_WORDS, b"\x01\x02\x03", SPEC)
    with pytest.raises(LinkError, match=message):
        decode_response(mangle(frame), SPEC)


def test_encode_refuses_long_payloads_and_bad_opcodes() -> None:
    with pytest.raises(ValueError, match=r"^payload must be at most 1024 bytes, not 1025$"):
        encode_request(Opcode.STORE_CODES, bytes(1025), SPEC)
    with pytest.raises(ValueError, match=r"^opcode must be in 0\.\.255, not 256$"):
        encode_request(256, b"", SPEC)


# --- transports --------------------------------------------------------------------------


class Pipe:
    """A transport whose device side is a function from request bytes to reply bytes
    (chunked reads; an empty read is a timeout, as the Transport contract allows)."""

    def __init__(self, reply: Callable[[bytes], bytes], chunk: int = 7):
        self.reply = reply
        self.chunk = chunk
        self.written: list[bytes] = []
        self.pending = bytearray()
        self.timeouts: list[float] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        self.pending += self.reply(bytes(data))

    def read(self, n: int, timeout: float) -> bytes:
        self.timeouts.append(timeout)
        out = bytes(self.pending[: min(n, self.chunk)])
        del self.pending[: len(out)]
        return out

    def close(self) -> None:
        self.closed = True


def test_pipe_is_a_transport() -> None:
    assert isinstance(Pipe(lambda d: b""), Transport)
    assert not isinstance(object(), Transport)


def test_read_response_skips_garbage_before_sync() -> None:
    frame = encode_response(Status.OK, Opcode.READ_STATUS, bytes(range(10)), SPEC)
    pipe = Pipe(lambda d: b"\x00\x13\x37" + frame + b"\xff")
    pipe.write(b"")
    r = read_response(pipe, SPEC, timeout=0.5)
    assert (r.status, r.opcode, r.payload) == (Status.OK, Opcode.READ_STATUS, bytes(range(10)))
    assert pipe.pending == b"\xff"  # nothing past the frame was consumed
    assert all(0 < t <= 0.5 for t in pipe.timeouts)


@pytest.mark.parametrize("keep", [0, 1, 4, 9])
def test_read_response_times_out_on_a_partial_frame(keep: int) -> None:
    frame = encode_response(Status.OK, Opcode.READ_WORDS, bytes(8), SPEC)
    pipe = Pipe(lambda d: frame[:keep])
    pipe.write(b"")
    with pytest.raises(LinkTimeout, match=r"^timed out after 0\.2 s waiting for a response"):
        read_response(pipe, SPEC, timeout=0.2)


def test_read_response_refuses_an_over_long_length() -> None:
    pipe = Pipe(lambda d: bytes([SPEC.sync, 0, 1, 0xFF, 0xFF]))
    pipe.write(b"")
    with pytest.raises(LinkError, match=r"^response length 65535 is over max_payload=1024$"):
        read_response(pipe, SPEC, timeout=0.2)


def test_serial_transport_over_pyserial_loopback() -> None:
    port = SerialTransport("loop://", 115_200)
    assert isinstance(port, Transport)
    frame = encode_response(Status.OK, Opcode.IDENTIFY, b"xyz", SPEC)
    port.write(frame)
    r = read_response(port, SPEC, timeout=1.0)
    assert r.payload == b"xyz"
    assert port.read(1, 0.01) == b""
    port.discard_input()
    port.close()


def test_importing_host_does_not_import_pyserial() -> None:
    code = "import sys, host; assert 'serial' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


# --- Device against the device model ----------------------------------------------------


class FakeDevice:
    """The device side of the protocol in software: :class:`model.device.DeviceModel`
    (the command semantics every other test uses) behind the link's framing. Records
    each request; ``override[opcode] = (status, echoed opcode, payload)`` replaces an
    answer, to inject faults."""

    def __init__(self, device: DeviceSpec | None = None, network: IntNetwork | None = None):
        self.device = DeviceSpec() if device is None else device
        self.spec = self.device.link
        self.model = DeviceModel(self.device, network)
        self.requests: list[tuple[Opcode | int, dict[str, int], bytes]] = []
        self.override: dict[int, tuple[int, int, bytes]] = {}

    def __call__(self, data: bytes) -> bytes:
        opcode, payload = decode_request(data, self.spec)
        values, tail = REQUESTS[opcode].unpack(payload)
        self.requests.append((opcode, values, tail))
        if int(opcode) in self.override:
            status, echo, body = self.override[int(opcode)]
            return encode_response(status, echo, body, self.spec)
        status, body = self.model.handle(opcode, payload)
        return encode_response(status, opcode, body, self.spec)


def make(
    max_payload: int = 1024, network: IntNetwork | None = None, **sizes: int
) -> tuple[Device, FakeDevice, Pipe]:
    """A host Device on a fake device of ``sizes`` (:meth:`spec.DeviceSpec.of`), with an
    inference engine of 8 lanes running ``network`` if given."""
    link = LinkSpec(max_payload=max_payload)
    engine = None if network is None else network.engine_info(EngineSpec(lanes=8))
    device = DeviceSpec.of(**{"lanes": 8, "result_depth": 64, **sizes}, link=link, engine=engine)
    fake = FakeDevice(device, network)
    pipe = Pipe(fake)
    return Device(pipe, link, timeout=0.5), fake, pipe


def ident(**changes: int) -> bytes:
    """The default device's IDENTIFY payload with ``changes``."""
    return RESPONSES[Opcode.IDENTIFY].pack({**DeviceSpec().identify(), **changes})


def test_identify() -> None:
    dev, fake, _ = make()
    info = dev.identify()
    want = {k: v for k, v in fake.device.identify().items() if k != "magic"}
    assert info == DeviceInfo(**want)
    assert (info.lanes, info.depth, info.result_depth, info.max_payload) == (8, 1024, 64, 1024)
    assert (info.code_bytes, info.word_bytes, info.result_bytes) == (1, 4, 4)
    assert dev.info is info
    assert info.spec_fingerprint == spec.fingerprint() and info.matches_spec
    assert len(fake.requests) == 1  # cached
    dev, fake, _ = make()
    fake.override[Opcode.IDENTIFY] = (Status.OK, Opcode.IDENTIFY,
                                      ident(fingerprint=0x0123456789ABCDEF))  # fmt: skip
    info = dev.identify()
    assert info.spec_fingerprint == "0123456789abcdef" and not info.matches_spec


def test_identify_refuses_another_design_or_protocol() -> None:
    dev, fake, _ = make()
    fake.override[Opcode.IDENTIFY] = (Status.OK, Opcode.IDENTIFY, ident(magic=0x123456))
    with pytest.raises(LinkError, match="lacks the 'sbq' magic"):
        dev.identify()
    dev, fake, _ = make()
    fake.override[Opcode.IDENTIFY] = (Status.OK, Opcode.IDENTIFY, ident(protocol=1))
    with pytest.raises(LinkError, match=r"^device speaks protocol 1, this host 5$"):
        dev.identify()
    dev, fake, _ = make()
    fake.override[Opcode.IDENTIFY] = (Status.OK, Opcode.IDENTIFY, ident(source=7))
    with pytest.raises(LinkError, match="random source 7, which this host does not know"):
        dev.identify()


@pytest.mark.parametrize(("source", "bits"), [("shared", 64), ("lanes", 32)])
def test_set_seed_sends_the_seed_little_endian(source: str, bits: int) -> None:
    """A seed goes out as 8 bytes; one the device's source (IDENTIFY's ``source``)
    cannot take is refused before anything is sent."""
    dev, fake, pipe = make(source=source)
    assert dev.info.random_source == source and dev.info.seed_bits == bits
    del fake.requests[:], pipe.written[:]
    dev.set_seed(0x0123456789ABCDEF >> (64 - bits))
    seed = 0x0123456789ABCDEF >> (64 - bits)
    assert fake.requests == [(Opcode.SET_SEED, {"seed": seed}, b"")]
    assert pipe.written[0][4:12] == seed.to_bytes(8, "little")
    assert fake.model.codes.spec.seed == seed
    for bad in (0, 1 << bits, -1, "7"):
        with pytest.raises(ValueError, match=rf"^seed must be an integer in 1\.\.2\*\*{bits} - 1 "
                           rf"for the device's {source} random source"):  # fmt: skip
            dev.set_seed(bad)  # type: ignore[arg-type]
    assert fake.requests == [(Opcode.SET_SEED, {"seed": seed}, b"")]


def test_store_codes_pads_and_chunks() -> None:
    dev, fake, _ = make(max_payload=64)
    codes = [k % 256 for k in range(150)]
    dev.set_seed(7)
    assert dev.store_codes(codes) == 5  # 152 bits: 4 whole words and a partial one
    stores = [(v["flags"], t) for op, v, t in fake.requests if op == Opcode.STORE_CODES]
    # 63 bytes of room, 56 codes (7 beats of 8) per frame: 56 + 56 + 40 (150 padded to 152).
    assert [len(t) for _, t in stores] == [56, 56, 40]
    assert [f for f, _ in stores] == [StoreFlag.CLEAR, 0, StoreFlag.LAST]
    assert b"".join(t for _, t in stores) == bytes(codes) + b"\x00\x00"
    bits = binarize(np.array(codes), seed=7, lanes=8, act_bits=8, source="shared")
    assert fake.model.words[:5] == [int(w) for w in pack_bits(bits, 32)]
    dev.store_codes([1] * 8, clear=False, last=False)
    assert fake.requests[-1][1] == {"flags": 0}
    with pytest.raises(ValueError, match=r"^codes must be in 0\.\.255, not 256$"):
        dev.store_codes([256])


def test_store_codes_wide_codes_take_two_bytes() -> None:
    dev, fake, _ = make(act_bits=12, lanes=1)
    dev.store_codes([0x0ABC])
    assert fake.requests[-1][2] == b"\xbc\x0a"


def test_read_words_chunks() -> None:
    dev, fake, _ = make(max_payload=64)
    dev.store_codes(range(256))  # 8 words of 32 bits...
    dev.store_codes([255] * 32 * 37, clear=False)  # ... and 37 of (almost) all ones
    assert fake.model.count == 45
    assert dev.read_words(5, 40) == fake.model.words[5:45]
    reads = [v for op, v, _ in fake.requests if op == Opcode.READ_WORDS]
    assert reads == [{"addr": 5, "n": 16}, {"addr": 21, "n": 16}, {"addr": 37, "n": 8}]


def test_load_weights_chunks_and_addresses() -> None:
    dev, fake, _ = make(max_payload=64)
    words = list(range(1, 31))
    dev.load_weights(words, addr=100)
    loads = [(v, t) for op, v, t in fake.requests if op == Opcode.LOAD_WEIGHTS]
    assert [v["addr"] for v, _ in loads] == [100, 115]  # 60 bytes = 15 words per frame
    assert b"".join(t for _, t in loads) == b"".join(w.to_bytes(4, "little") for w in words)
    assert fake.model.weights[99:131] == [0, *words, 0]
    with pytest.raises(ValueError, match=r"^words must be in 0\.\.4294967295, not -1$"):
        dev.load_weights([-1])


def test_run_dot_and_read_results() -> None:
    dev, fake, _ = make()
    weights = [0x0F0F0F0F, 0xFFFF0000, 0x12345678, 0xDEADBEEF, 0, 0xFFFFFFFF]
    dev.load_weights(weights)
    dev.store_codes([200] * 8 * 4 * 6)  # six words, mostly ones
    assert dev.run_dot("xnor", 96, w_addr=2, a_addr=3) == 1
    assert dev.run_dot(Mode.AND, 64) == 2
    assert dev.run_dot("code", codes=[1, 2, 3]) == 3
    dots = [(v, t) for op, v, t in fake.requests if op == Opcode.RUN_DOT]
    assert dots == [
        ({"mode": 0, "w_addr": 2, "a_addr": 3, "n": 96}, b""),
        ({"mode": 1, "w_addr": 0, "a_addr": 0, "n": 64}, b""),
        ({"mode": 2, "w_addr": 0, "a_addr": 0, "n": 3}, b"\x01\x02\x03"),
    ]
    w, a = unpack_bits(weights, 192, 32), unpack_bits(fake.model.words[:6], 192, 32)
    want = [
        int(np.sum(np.where(w[64:160] == a[96:192], 1, -1))),  # xnor: +-1 per element
        int(np.sum(np.where(a[:64] == 1, 2 * w[:64].astype(int) - 1, 0))),  # and
        1 * 1 + 2 * 1 + 3 * 1,  # code: weights 1, 1, 1 (0x0F... starts with ones)
    ]
    assert dev.read_results(10) == want
    assert dev.read_results(10) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "code"}, r"^code mode needs codes$"),
        ({"mode": "code", "n": 2, "codes": [1]}, r"^n=2 but 1 codes$"),
        ({"mode": "xnor", "codes": [1]}, r"^xnor mode takes its activations from the SRAM$"),
        ({"mode": "and"}, r"^n is needed in xnor and and modes$"),
        ({"mode": "nand", "n": 1}, r"^mode must be a Mode or one of xnor, and, code; not 'nand'$"),
    ],
)
def test_run_dot_refusals(kwargs: dict[str, object], message: str) -> None:
    dev, _, _ = make()
    with pytest.raises(ValueError, match=message):
        dev.run_dot(**kwargs)  # type: ignore[arg-type]


def test_read_results_stops_when_the_buffer_runs_dry() -> None:
    dev, fake, _ = make(max_payload=44)  # 11 results per frame
    fake.model.results.extend(range(-12, 12))
    assert dev.read_results(100) == list(range(-12, 12))
    asked = [v["n"] for op, v, _ in fake.requests if op == Opcode.READ_RESULTS]
    assert asked == [11, 11, 11]


def test_status_commands() -> None:
    dev, fake, _ = make()
    dev.store_codes([9] * 64)
    fake.model.results.extend([1, 2])
    fake.model.flags = StatusFlag.SRAM_OVERFLOW | StatusFlag.RESULT_OVERFLOW
    fake.model.errors = 3
    assert dev.read_status() == DeviceStatus(
        flags=StatusFlag.SRAM_OVERFLOW | StatusFlag.RESULT_OVERFLOW | StatusFlag.LINK_ERROR,
        count=2, pending=2, errors=3,
    )  # fmt: skip
    dev.clear_status()
    assert fake.requests[-1] == (Opcode.CLEAR_STATUS, {}, b"")
    assert dev.read_status() == DeviceStatus(flags=StatusFlag(0), count=2, pending=2, errors=0)


def test_error_status_raises_device_error() -> None:
    dev, fake, _ = make()
    with pytest.raises(DeviceError, match=r"^device answered BAD_ARGUMENT to SET_SEED$") as e:
        dev.command(Opcode.SET_SEED, bytes(8))  # a zero seed, past set_seed's own check
    assert e.value.status is Status.BAD_ARGUMENT
    assert e.value.opcode is Opcode.SET_SEED
    # A link-layer refusal echoes whatever opcode byte arrived; an unknown status stays an int.
    fake.override[Opcode.CLEAR_STATUS] = (0x7F, 0xEE, b"")
    with pytest.raises(DeviceError, match=r"^device answered 0x7f to 0xee$") as e:
        dev.clear_status()
    assert e.value.status == 0x7F


def test_answer_to_another_opcode_is_a_link_error() -> None:
    dev, fake, _ = make()
    fake.override[Opcode.CLEAR_STATUS] = (Status.OK, Opcode.READ_STATUS, b"")
    with pytest.raises(LinkError, match=r"^answer to opcode 0x08 for a request with opcode 0x09$"):
        dev.clear_status()


def test_malformed_answer_payload_is_a_link_error() -> None:
    dev, fake, _ = make()
    fake.override[Opcode.READ_STATUS] = (Status.OK, Opcode.READ_STATUS, b"\x00")
    with pytest.raises(LinkError, match=r"^malformed READ_STATUS answer: payload must have 10 "):
        dev.read_status()


def test_silent_device_times_out() -> None:
    pipe = Pipe(lambda d: b"")
    dev = Device(pipe, timeout=0.05)
    with pytest.raises(LinkTimeout, match="waiting for a response's sync byte"):
        dev.clear_status()
    assert isinstance(LinkTimeout("x"), LinkError)


def test_device_refuses_a_non_transport_and_closes_its_own() -> None:
    with pytest.raises(TypeError, match=r"^transport must have write\(\) and read\(\)"):
        Device(object())  # type: ignore[arg-type]
    pipe = Pipe(FakeDevice())
    with Device(pipe) as dev:
        dev.clear_status()
    assert pipe.closed


def test_device_open_uses_the_spec_baud() -> None:
    dev = Device.open("loop://", LinkSpec(baud=3_000_000, timeout_us=100), timeout=0.05)
    assert isinstance(dev.transport, SerialTransport)
    assert dev.transport._serial.baudrate == 3_000_000
    # loop:// echoes the request, which is not a response frame to this opcode.
    with pytest.raises(LinkError):
        dev.read_status()
    dev.close()


# --- the inference engine ---------------------------------------------------------------


def test_classify_sends_images_in_frames_and_reads_their_logits() -> None:
    """Whole images through a device with the golden WRN-8-1 (64-byte images): at a
    44-byte payload each image takes two LOAD_IMAGE frames (40 and 24 bytes); the
    logits are model.infer's."""
    net = load(NETWORK)
    dev, fake, _ = make(max_payload=44, network=net)
    images = np.random.default_rng(0).integers(0, 256, (3, 1, 8, 8), dtype=np.uint8)
    got = list(dev.classify((im.transpose(1, 2, 0).tobytes() for im in images),
                            network=net.fingerprint()))  # fmt: skip
    assert got == infer.run(net, images).tolist()
    loads = [(v["offset"], len(t)) for op, v, t in fake.requests if op == Opcode.LOAD_IMAGE]
    assert loads == [(0, 40), (40, 24)] * 3
    assert dev.info.network_fingerprint == net.fingerprint()


def test_classify_refuses_a_device_without_the_network() -> None:
    dev, _, _ = make()
    with pytest.raises(LinkError, match="no inference engine"):
        list(dev.classify([b"\0" * 64]))
    net = load(NETWORK)
    dev, _, _ = make(network=net)
    with pytest.raises(LinkError, match=r"runs network [0-9a-f]{16}, the file given is 0123"):
        list(dev.classify([b"\0" * 64], network="0123456789abcdef"))


def test_image_commands_refuse_what_does_not_fit() -> None:
    """READ_LOGITS before a whole image, an offset that skips bytes, bytes past the
    image: BAD_ARGUMENT; BUSY reads as "not yet"."""
    net = load(NETWORK)
    dev, fake, _ = make(network=net)
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to READ_LOGITS"):
        dev.read_logits()
    assert dev.load_image(b"\1" * 10) == 10
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to LOAD_IMAGE"):
        dev.load_image(b"\1", offset=11)
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to LOAD_IMAGE"):
        dev.load_image(b"\1" * 55, offset=10)
    assert dev.load_image(b"\1" * 54, offset=10) == 64
    assert dev.read_logits() == infer.run(net, np.ones((1, 1, 8, 8), np.uint8))[0].tolist()
    fake.override[Opcode.READ_LOGITS] = (Status.BUSY, Opcode.READ_LOGITS, b"")
    assert dev.read_logits() is None


def test_classify_cli_checks_every_logit(tmp_path: Path, monkeypatch, capsys) -> None:
    """``python -m host.classify`` against a fake device running the golden WRN-8-1:
    every logit equal to model.infer's, the accuracy printed; a file with another
    network is refused before any image is sent."""
    net = load(NETWORK)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, 1, 8, 8), dtype=np.uint8)
    labels = infer.run(net, images).argmax(1)
    labels[0] = (labels[0] + 1) % 10
    path = tmp_path / "images.npz"
    np.savez(path, images=images, labels=labels)
    fakes: list[FakeDevice] = []

    def open_fake(port: str, link: LinkSpec, *, timeout: float) -> Device:
        dev, fake, _ = make(network=net)
        fakes.append(fake)
        return dev

    monkeypatch.setattr(Device, "open", open_fake)
    assert classify_main(["--port", "x", "--images", str(path), "--check", str(NETWORK)]) == 0
    out = capsys.readouterr().out
    assert "5/5 logits equal" in out and "accuracy: 80.00 % (5 images)" in out
    assert f"engine: {net.engine_info(EngineSpec(lanes=8)).cycles:,} cycles per image" in out
    other = tmp_path / "other.npz"
    changed = load(NETWORK)
    changed.bits["head"] = changed.bits["head"].copy()
    changed.bits["head"][0, 0] ^= 1
    changed.save(other)
    assert classify_main(["--port", "x", "--images", str(path), "--check", str(other)]) == 1
    assert "the device runs network" in capsys.readouterr().err
    assert not any(op == Opcode.LOAD_IMAGE for op, _, _ in fakes[-1].requests)


def test_every_layer_read_back_is_model_infers() -> None:
    """``read_layers``: the engine stopped after each layer in turn (RUN_TO), its output
    read back in frames of three 8-value words (READ_LAYER at a 100-byte payload),
    equal to model.infer's trace; then run on to the logits, the stop cleared."""
    from host.classify import read_layers

    net = load(NETWORK)
    dev, fake, _ = make(max_payload=100, network=net)
    image = np.random.default_rng(4).integers(0, 256, (1, 8, 8), dtype=np.uint8)
    got = read_layers(dev, image, net)
    logits, want = infer.run(net, image[None], trace=True)
    table = EngineSpec(lanes=8).layers(net.spec)
    assert list(got) == list(table) and len(got) == 12
    for name, values in got.items():
        assert values.shape == want[name][0].shape and (values == want[name][0]).all(), name
    sizes = {v["n"] for op, v, _ in fake.requests if op == Opcode.READ_LAYER}
    assert max(sizes) == 3 and 0 in sizes
    stops = [v["index"] for op, v, _ in fake.requests if op == Opcode.RUN_TO]
    assert stops == [i for i, _ in table.values()] + [NO_STOP]
    assert dev.read_logits() == logits[0].tolist() and fake.model.stop_at == NO_STOP


def test_run_to_and_read_layer_refuse_what_does_not_fit() -> None:
    """READ_LAYER on an engine that has not stopped, past the layer's words, or more
    than a frame holds; RUN_TO a pass with no readable output or one already run:
    BAD_ARGUMENT. BUSY reads as "not yet" and RUN_TO asks again."""
    net = load(NETWORK)
    dev, fake, _ = make(network=net)
    table = EngineSpec(lanes=8).layers(net.spec)
    index, words = table["blocks.1.out"]
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to READ_LAYER"):
        dev.read_layer(0, 1)
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to RUN_TO"):
        dev.run_to(0)  # the image's load: no traced value
    dev.run_to(index)
    dev.send_image(b"\7" * 64)
    assert fake.model.stopped == index and dev.read_logits is not None
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to READ_LOGITS"):
        dev.read_logits()
    assert len(dev.read_layer(words - 2, 2)) == 16
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to READ_LAYER"):
        dev.read_layer(words - 2, 3)
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to READ_LAYER"):
        dev._call(Opcode.READ_LAYER, addr=0, n=1024 // 32 + 1)
    with pytest.raises(DeviceError, match="BAD_ARGUMENT to RUN_TO"):
        dev.run_to(table["blocks.0.out"][0])  # already run
    fake.override[Opcode.READ_LAYER] = (Status.BUSY, Opcode.READ_LAYER, b"")
    assert dev.read_layer(0, 1) is None
    answers = iter([Status.BUSY, Status.BUSY])
    fake.override.pop(Opcode.READ_LAYER)
    real = fake.model.handle

    def busy_twice(opcode: int, payload: bytes) -> tuple[Status, bytes]:
        if opcode == Opcode.RUN_TO and (status := next(answers, None)) is not None:
            return status, b""
        return real(opcode, payload)

    fake.model.handle = busy_twice  # type: ignore[method-assign]
    dev.run_to(None)
    assert [op for op, _, _ in fake.requests[-3:]] == [Opcode.RUN_TO] * 3
    assert dev.read_logits() == infer.run(net, np.full((1, 1, 8, 8), 7, np.uint8))[0].tolist()


def test_classify_cli_layers_names_the_layer_that_differs(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """``--layers``: every layer of the first image read back and compared; a device
    whose ``blocks.1.out`` is off in places gets that layer named, exit status 1; an
    honest one: every layer equal, 0. ``--layers`` without ``--check`` is refused."""
    from host.classify import main as classify_main

    net = load(NETWORK)
    images = np.random.default_rng(6).integers(0, 256, (2, 1, 8, 8), dtype=np.uint8)
    path = tmp_path / "images.npz"
    np.savez(path, images=images)
    index = EngineSpec(lanes=8).layers(net.spec)["blocks.1.out"][0]
    corrupt = [False]

    def open_fake(port: str, link: LinkSpec, *, timeout: float) -> Device:
        dev, fake, _ = make(network=net)
        real = fake.model.handle

        def handle(opcode: int, payload: bytes) -> tuple[Status, bytes]:
            status, body = real(opcode, payload)
            if corrupt[0] and opcode == Opcode.READ_LAYER and fake.model.stopped == index:
                body = bytes([body[0] ^ 1]) + body[1:] if body else body
            return status, body

        fake.model.handle = handle  # type: ignore[method-assign]
        return dev

    monkeypatch.setattr(Device, "open", open_fake)
    args = ["--port", "x", "--images", str(path), "--check", str(NETWORK), "--layers"]
    assert classify_main(args) == 0
    out = capsys.readouterr().out
    assert "2/2 logits equal" in out and "12/12 layers equal" in out
    assert "image 0, blocks.1.out: equal (512 values)" in out
    corrupt[0] = True
    assert classify_main(args) == 1
    out = capsys.readouterr().out
    assert "2/2 logits equal" in out and "11/12 layers equal" in out
    # its 64 words come in two frames of 32; each frame's first value is off by one
    assert (
        "image 0, blocks.1.out: differs in 2 of 512 values; first at y=0 x=0 channel 0: "
        "device 44, model.infer 45"
    ) in out
    with pytest.raises(SystemExit):
        classify_main(["--port", "x", "--images", str(path), "--layers"])
    assert "--layers compares with model.infer: give --check NET" in capsys.readouterr().err


def test_classify_images_digits_is_the_training_runs_test_split() -> None:
    """``--images digits``: what ``model.train --dataset digits`` tests on, as images
    for the network it trains (the README's path)."""
    from host.classify import load_images
    from model.nn.data import load as load_dataset

    images, labels = load_images(Path("digits"))
    test = load_dataset("digits")
    assert images.dtype == np.uint8 and images.shape == (360, 3, 32, 32)
    assert (images == test.test_x.numpy()).all() and (labels == test.test_y.numpy()).all()
