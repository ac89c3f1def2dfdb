# amaranth: UnusedElaboratable=no
"""LOAD_IMAGE, READ_LOGITS, RUN_TO and READ_LAYER on an :class:`~hw.top.SbqCore` with an
inference engine (the golden WRN-8-1 at 16 lanes, 64-byte images, 64-byte payloads so
that an image takes two frames and a READ_LAYER answer one word), at the
command-stream level: every answer equals :class:`model.device.DeviceModel`'s (every
value read back included), malformed frames are refused as documented and lose
nothing (the next whole image's logits are still model.infer's), an image, a stop or a
read sent while the engine computes gets BUSY."""

from __future__ import annotations

import random
from collections import Counter

from golden.network import NETWORK
from hw.top import SbqCore
from model.device import DeviceModel
from model.intnet import load
from spec import NO_STOP, REQUESTS, DeviceSpec, LinkSpec, Opcode, Status
from spec.engine import EngineSpec

from .test_top import run_core

NET = load(NETWORK)
ENGINE = EngineSpec(lanes=16)
DEVICE = DeviceSpec.of(lanes=8, depth=16, result_depth=4, engine=NET.engine_info(ENGINE),
                       link=LinkSpec(max_payload=64))  # fmt: skip
#: Idle cycles after an image's last byte: the engine is done by then.
SETTLE = ENGINE.cycles(NET.spec) + 50
FRAMES = 620


def run_against_the_model(
    frames: list, want: list, rng: random.Random, waits: dict[int, int]
) -> tuple[list[tuple[int, int, bytes]], Counter]:
    """``frames`` through an engine core (:func:`run_core`); every answer must be the
    model's (``want``). Returns the answers and their count per (opcode, status)."""
    got = run_core(SbqCore(DEVICE, NET, ENGINE), frames, rng, waits)
    mismatches = [(k, f[0], g, w) for k, (f, g, w) in enumerate(zip(frames, got, want, strict=True))
                  if g != w]  # fmt: skip
    assert mismatches == [], mismatches[:3]
    return got, Counter((Opcode(op), Status(s)) for s, op, _ in got)


def image_frames(rng: random.Random, model: DeviceModel) -> tuple[int, bytes]:
    """A LOAD_IMAGE frame: mostly malformed (an offset that skips or repeats bytes, a
    tail past the image), otherwise the next piece of an image."""
    image, room = DEVICE.engine.image_bytes, 64 - REQUESTS[Opcode.LOAD_IMAGE].fixed_bytes
    held = len(model.image) % image if model.logits is None else 0
    if rng.random() < 0.1:  # the next piece
        offset, n = held, rng.randint(1, min(room, image - held))
    else:
        offset = rng.choice([held + 1, held - 1 if held else 1, rng.randrange(1, 1 << 32),
                             image, image + 1])  # fmt: skip
        if offset == image == held:  # nothing held past the image is the one valid case
            offset += 1
        n = rng.choice([image - held + 1, room, rng.randint(0, 4), rng.randint(0, 4)])
    tail = bytes(rng.randrange(256) for _ in range(min(n, room)))
    return int(Opcode.LOAD_IMAGE), REQUESTS[Opcode.LOAD_IMAGE].pack({"offset": offset}, tail)


def test_image_frames_against_the_model() -> None:
    rng = random.Random(5)
    model = DeviceModel(DEVICE, NET)
    frames: list[tuple[int, bytes, int | None]] = []
    want: list[tuple[int, int, bytes]] = []
    waits: dict[int, int] = {}
    busy_probes = 0
    while len(frames) < FRAMES:
        r = rng.random()
        if r < 0.87:
            op, payload = image_frames(rng, model)
        elif r < 0.96:
            op, payload = int(Opcode.READ_LOGITS), b""
        else:
            op, payload = int(rng.choice([Opcode.IDENTIFY, Opcode.READ_STATUS])), b""
        before = model.logits
        status, body = model.handle(op, payload)
        frames.append((op, payload, None))
        want.append((int(status), op, body))
        if model.logits is not None and model.logits is not before:  # an image completed
            if rng.random() < 0.5:  # ask at once: the engine is computing
                restart = REQUESTS[Opcode.LOAD_IMAGE].pack({"offset": 0}, b"\0")
                probe = rng.choice([(int(Opcode.READ_LOGITS), b""),
                                    (int(Opcode.LOAD_IMAGE), restart)])  # fmt: skip
                frames.append((*probe, None))
                want.append((int(Status.BUSY), probe[0], b""))
                busy_probes += 1
            waits[len(frames)] = SETTLE
    _, statuses = run_against_the_model(frames, want, rng, waits)
    refused = sum(n for (op, s), n in statuses.items()
                  if op in (Opcode.LOAD_IMAGE, Opcode.READ_LOGITS) and s != Status.OK)  # fmt: skip
    assert refused >= 500, statuses
    assert statuses[Opcode.READ_LOGITS, Status.OK] >= 5, statuses
    assert len(waits) >= 5 and busy_probes >= 2, (len(waits), busy_probes)


STOP_FRAMES = 1000
PASSES = ENGINE.passes(NET.spec)


def stop_frame(rng: random.Random, model: DeviceModel) -> tuple[int, bytes]:
    """A RUN_TO or READ_LAYER frame: often refused (a pass whose output cannot be read,
    one already run, any 16-bit index; READ_LAYER on an engine not stopped, past the
    layer's words, more words than an answer holds), otherwise in range."""
    sizes = dict(DEVICE.engine.layers)
    if rng.random() < 0.5:
        index = (
            rng.choice(list(sizes))
            if rng.random() < 0.5
            else rng.choice([NO_STOP, 0, len(PASSES) - 2, len(PASSES) - 1, rng.randrange(1 << 16)])
        )
        return int(Opcode.RUN_TO), REQUESTS[Opcode.RUN_TO].pack({"index": index})
    words = sizes.get(model.stopped, 4)
    addr = rng.choice([0, rng.randrange(words), words - 1, words, rng.randrange(1 << 32)])
    n = rng.choice([0, 1, 1, 1, 2, max(words - addr, 0), rng.randrange(1 << 16)])
    return int(Opcode.READ_LAYER), REQUESTS[Opcode.READ_LAYER].pack({"addr": addr, "n": n})


def cycles_to_stop(start: int, stop: int) -> int:
    """The engine's cycles from pass ``start`` on to the end of pass ``stop`` (or of the
    logits)."""
    end = len(PASSES) - 1 if stop == NO_STOP else stop
    return sum(ENGINE.pass_cycles(p) for p in PASSES[start : end + 1])


def stop_script(rng: random.Random) -> tuple[list, list, dict[int, int], Counter]:
    """Frames (mostly RUN_TO and READ_LAYER, now and then a whole image in two frames),
    the model's answers, the idle cycles before each frame that follows a run (the
    engine's cycles to its stop, and some), and the BUSY probes sent into runs long
    enough to catch."""
    model = DeviceModel(DEVICE, NET)
    frames: list[tuple[int, bytes, int | None]] = []
    want: list[tuple[int, int, bytes]] = []
    waits: dict[int, int] = {}
    probes: Counter = Counter()
    load = REQUESTS[Opcode.LOAD_IMAGE]
    image = DEVICE.engine.image_bytes
    while len(frames) < STOP_FRAMES:
        r = rng.random()
        if r < 0.9:
            sent = [stop_frame(rng, model)]
        elif r < 0.96:  # a whole image, in two frames
            pixels = bytes(rng.randrange(256) for _ in range(image))
            sent = [(int(Opcode.LOAD_IMAGE), load.pack({"offset": 0}, pixels[:60])),
                    (int(Opcode.LOAD_IMAGE), load.pack({"offset": 60}, pixels[60:]))]  # fmt: skip
        else:
            sent = [(int(rng.choice([Opcode.READ_LOGITS, Opcode.READ_STATUS])), b"")]
        for op, payload in sent:
            was_stopped, had = model.stopped, len(model.image)
            status, body = model.handle(op, payload)
            frames.append((op, payload, None))
            want.append((int(status), op, body))
            if status != Status.OK:
                continue
            start = None
            if op == Opcode.LOAD_IMAGE and had < image == len(model.image):
                start = 1  # the image is in: the engine runs from its first pass
            elif op == Opcode.RUN_TO and was_stopped is not None:
                start = was_stopped + 1  # resumed
            if start is None:
                continue
            cycles = cycles_to_stop(start, model.stop_at)
            if cycles > 500 and rng.random() < 0.6:
                probe = rng.choice(
                    [
                        stop_frame(rng, model),
                        (int(Opcode.READ_LOGITS), b""),
                        (int(Opcode.LOAD_IMAGE), load.pack({"offset": 0}, b"\0")),
                    ]
                )
                frames.append((*probe, None))
                want.append((int(Status.BUSY), probe[0], b""))
                probes[Opcode(probe[0])] += 1
            waits[len(frames)] = cycles + 100
    return frames, want, waits, probes


def test_stop_and_read_frames_against_the_model() -> None:
    rng = random.Random(11)
    frames, want, waits, probes = stop_script(rng)
    got, statuses = run_against_the_model(frames, want, rng, waits)
    refused = sum(n for (op, s), n in statuses.items()
                  if op in (Opcode.RUN_TO, Opcode.READ_LAYER) and s != Status.OK)  # fmt: skip
    assert refused >= 500, statuses
    read = sum(1 for s, op, body in got if op == Opcode.READ_LAYER and s == Status.OK and body)
    assert read >= 20 and statuses[Opcode.RUN_TO, Status.OK] >= 50, statuses
    assert statuses[Opcode.READ_LOGITS, Status.OK] >= 3, statuses
    assert sum(probes.values()) >= 10 and len(probes) >= 3, probes
