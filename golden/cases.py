"""The golden cases: stimuli drawn from a seeded RNG, expected outputs from the model.

Each case is a name, the arrays to store and a JSON-able ``meta`` dict holding the
parameters and the fingerprints of the spec objects it was made under. Every case has
its own RNG stream (derived from the master seed and the case name), so adding a case
never changes another.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.binarize import binarize
from model.infer import run
from model.intnet import load as load_network
from model.lfsr import codes as source_codes
from model.pack import pack_bits, tensor_to_stream
from model.xnor_acc import dot
from spec import SOURCES, BinarizerSpec, DatapathSpec, Mode, PackingSpec

from .network import CIFAR_IMAGES, CIFAR_NETWORK, NETWORK, digits_8x8

#: Master seed of every stimulus.
MASTER_SEED = 20261126

LANES = (1, 8, 32)
ACT_BITS = (1, 4, 8)
#: Largest legal seed for the default 32-bit LFSR: the all-ones state.
MAX_SEED = 0xFFFFFFFF
#: And for the shared 64-bit one.
MAX_SHARED_SEED = 2**64 - 1


@dataclass
class Case:
    """One golden file: ``<block>/<name>.npz``."""

    block: str
    name: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([MASTER_SEED, zlib.crc32(name.encode())])


def _codes_with_edges(rng: np.random.Generator, n: int, act_bits: int) -> np.ndarray:
    """Random codes whose first stretch is all 0, then all 2**B - 1 (the edge values)."""
    top = (1 << act_bits) - 1
    q = rng.integers(0, top + 1, size=n, dtype=np.uint16)
    edge = n // 8
    q[:edge] = 0
    q[edge : 2 * edge] = top
    return q


def lfsr_cases() -> Iterator[Case]:
    """Random codes of the per-lane bank for every lanes x act_bits, at seeds 1,
    all-ones and a random one."""
    yield from _code_cases("lfsr", "lanes", (1, MAX_SEED, 0x5EED1234))


def shared_lfsr_cases() -> Iterator[Case]:
    """The same of the shared LFSR (``docs/formats.md`` section 3b), whose seeds are
    64-bit."""
    yield from _code_cases("shared_lfsr", "shared", (1, MAX_SHARED_SEED, 0x5EED1234_9ABCDEF0))


def _code_cases(block: str, source: str, seeds: tuple[int, ...]) -> Iterator[Case]:
    for lanes in LANES:
        for act_bits in ACT_BITS:
            for seed in seeds:
                spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, source=source)
                n = 64 * lanes + lanes // 2 + 1  # a partial last beat
                width = -(-spec.seed_bits // 4)
                yield Case(
                    block,
                    f"lanes{lanes}_bits{act_bits}_seed{seed:0{width}x}",
                    {"codes": source_codes(spec, n)},
                    {"seed": seed, "lanes": lanes, "act_bits": act_bits, "n": n, "spec": spec},
                )


def binarize_cases() -> Iterator[Case]:
    """Codes with edge values through the stochastic binarizer on either source, and
    through the deterministic one."""
    for lanes in LANES:
        for act_bits in ACT_BITS:
            for kind in ("stoch", "det", "shared"):
                name = f"lanes{lanes}_bits{act_bits}_{kind}"
                source = "shared" if kind == "shared" else "lanes"
                seed = int(_rng(name).integers(1, MAX_SEED + 1))
                spec = BinarizerSpec(lanes, act_bits, seed, kind == "det", source=source)
                n = 128 * lanes + 3
                codes = _codes_with_edges(_rng(name), n, act_bits)
                bits = binarize(codes, seed=seed, lanes=lanes, act_bits=act_bits,
                                deterministic=spec.deterministic, source=source)  # fmt: skip
                meta = {"seed": seed, "lanes": lanes, "act_bits": act_bits, "spec": spec}
                meta["deterministic"], meta["source"] = spec.deterministic, source
                yield Case("binarize", name, {"codes": codes, "bits": bits}, meta)


def pack_cases() -> Iterator[Case]:
    """Random, all-zero and all-one streams with a partial last word; one NHWC tensor."""
    for word_bits in (8, 16, 32, 64):
        spec = PackingSpec(word_bits=word_bits)
        n = 37 * word_bits + word_bits // 2 + 1
        streams = {
            "random": _rng(f"pack{word_bits}").integers(0, 2, size=n, dtype=np.uint8),
            "zeros": np.zeros(n, dtype=np.uint8),
            "ones": np.ones(n, dtype=np.uint8),
        }
        for kind, bits in streams.items():
            yield Case(
                "pack",
                f"word{word_bits}_{kind}",
                {"bits": bits, "words": pack_bits(bits, word_bits)},
                {"word_bits": word_bits, "n": n, "spec": spec},
            )
    tensor = _rng("nhwc").integers(0, 2, size=(2, 5, 3, 3), dtype=np.uint8)  # NCHW
    bits = tensor_to_stream(tensor, layout="NCHW")
    yield Case(
        "pack",
        "nchw_tensor_word32",
        {"tensor_nchw": tensor, "bits": bits, "words": pack_bits(bits, 32)},
        {"word_bits": 32, "n": bits.size, "spec": PackingSpec()},
    )


def _dot_case(name: str, spec: DatapathSpec, mode: Mode, w: np.ndarray, a: np.ndarray) -> Case:
    sums = dot(w, a, mode, spec)
    meta = {"mode": mode.name.lower(), "lanes": spec.lanes, "act_bits": spec.act_bits}
    meta.update(acc_bits=spec.acc_bits, max_beats=spec.max_beats, spec=spec)
    return Case("xnor_acc", name, {"weights": w, "acts": a, "sums": sums}, meta)


def xnor_acc_cases() -> Iterator[Case]:
    """Every mode at lanes 1/8/32 with a partial last beat, and sums at the accumulator
    limit (the largest magnitude the spec admits, both signs)."""
    for lanes in LANES:
        for mode in Mode:
            for act_bits in (4, 8) if mode is Mode.CODE else (1,):
                name = f"{mode.name.lower()}_lanes{lanes}_bits{act_bits}"
                rng = _rng(name)
                spec = DatapathSpec(lanes=lanes, act_bits=act_bits)
                length = 9 * lanes + max(1, lanes // 3)
                w = rng.integers(0, 2, size=(48, length), dtype=np.uint8)
                a = rng.integers(0, 1 << act_bits, size=(48, length), dtype=np.uint16)
                yield _dot_case(name, spec, mode, w, a)
    limits = (
        (DatapathSpec(lanes=1, act_bits=1, acc_bits=8, max_beats=127), (Mode.XNOR, Mode.AND)),
        (DatapathSpec(lanes=8, act_bits=8, acc_bits=16, max_beats=16), (Mode.CODE,)),
    )
    for spec, modes in limits:
        top = (1 << spec.act_bits) - 1
        a = np.full((2, spec.max_elements), top, dtype=np.uint16)
        w = np.array([[1], [0]], dtype=np.uint8).repeat(spec.max_elements, axis=1)
        for mode in modes:
            name = f"limit_{mode.name.lower()}_lanes{spec.lanes}_acc{spec.acc_bits}"
            yield _dot_case(name, spec, mode, w, a)


def store_cases() -> Iterator[Case]:
    """The training-time store path: codes -> binarizer (either source) -> packed words."""
    for lanes, act_bits, word_bits in ((1, 4, 8), (8, 8, 32), (32, 8, 32), (32, 4, 64)):
        for source in SOURCES:
            name = f"lanes{lanes}_bits{act_bits}_word{word_bits}"
            name += "_shared" if source == "shared" else ""
            rng = _rng(name)
            seed = int(rng.integers(1, MAX_SEED + 1))
            n = 40 * word_bits + 7
            codes = _codes_with_edges(rng, n, act_bits)
            bits = binarize(codes, seed=seed, lanes=lanes, act_bits=act_bits, source=source)
            meta = {"seed": seed, "lanes": lanes, "act_bits": act_bits, "word_bits": word_bits,
                    "source": source}  # fmt: skip
            meta["spec"] = [BinarizerSpec(lanes, act_bits, seed, source=source),
                            PackingSpec(word_bits=word_bits)]  # fmt: skip
            words = pack_bits(bits, word_bits)
            yield Case("store", name, {"codes": codes, "words": words}, meta)


def intnet_cases() -> Iterator[Case]:
    """The committed WRN-8-1 digits network (:mod:`golden.network`) on four test images,
    an all-black and an all-white one: every layer's input codes, sums and outputs."""
    net = load_network(NETWORK)
    _, _, test_x, test_y = digits_8x8()
    images = np.concatenate([test_x[:4], np.zeros_like(test_x[:1]), np.full_like(test_x[:1], 255)])
    _, values = run(net, images, trace=True)
    # Codes as uint8, every other value as int32: the format's widths (at most 8-bit
    # codes, a 32-bit stream) hold them, and the file stays small.
    small = {k: v.astype(np.uint8 if k.endswith(".codes") else np.int32) for k, v in values.items()}
    assert all((small[k] == v).all() for k, v in values.items())
    arrays = {"images": images, "labels": test_y[:4], **small}
    meta = {"network": NETWORK.name, "act_bits": net.spec.act_bits, "spec": net.spec}
    yield Case("intnet", "wrn8_1_digits", arrays, meta)
    # The full-size network on real images: its logits and head sums only (every layer
    # of WRN-20-1 would be megabytes).
    net = load_network(CIFAR_NETWORK)
    with np.load(CIFAR_IMAGES) as z:
        images, labels = z["images"], z["labels"]
    logits, values = run(net, images, trace=True)
    arrays = {"images": images, "labels": labels, "logits": logits.astype(np.int32),
              "head.sum": values["head.sum"].astype(np.int32)}  # fmt: skip
    meta = {"network": CIFAR_NETWORK.name, "act_bits": net.spec.act_bits, "spec": net.spec}
    yield Case("intnet", "wrn20_1_cifar10", arrays, meta)


def all_cases() -> Iterator[Case]:
    """Every golden case, block by block."""
    for gen in (lfsr_cases, shared_lfsr_cases, binarize_cases, pack_cases, xnor_acc_cases,
                store_cases, intnet_cases):  # fmt: skip
        yield from gen()
