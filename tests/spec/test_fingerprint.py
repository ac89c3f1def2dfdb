"""Fingerprints of the spec dataclasses: stable, and sensitive to every field.

Golden files record these fingerprints (SPEC section 7), so a fingerprint that missed a
field would let stale golden vectors pass as current.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import spec
from spec import (
    ActivationEncoding,
    BinarizerSpec,
    DatapathSpec,
    LfsrSpec,
    LinkSpec,
    PackingSpec,
    SharedLfsrSpec,
    WeightEncoding,
)

REPO = Path(__file__).resolve().parents[2]
HEX16 = re.compile(r"[0-9a-f]{16}")

# Maximal 16-bit masks: x^16 + x^14 + x^13 + x^11 + 1, and XAPP052's taps 16, 15, 13, 4.
MASK_16 = 0xB400
OTHER_MASK_16 = 0xD008

# (base, field, changed): `changed` is `base` with `field` given another legal value.
# WeightEncoding is absent: its only field has one legal value (SPEC section 2 fixes it).
FIELD_CHANGES = [
    (ActivationEncoding(), "act_bits", ActivationEncoding(act_bits=4)),
    # A mask fixes its width (its top bit must be bit width-1), so changing the width
    # changes the mask too; the mask case keeps the width.
    (LfsrSpec(), "width", LfsrSpec(width=16, mask=MASK_16)),
    # XAPP052 table 3: the alternative 32-bit taps 32, 30, 26, 25.
    (LfsrSpec(), "mask", LfsrSpec(mask=0xA3000000)),
    (BinarizerSpec(), "lanes", BinarizerSpec(lanes=16)),
    (BinarizerSpec(), "act_bits", BinarizerSpec(act_bits=4)),
    (BinarizerSpec(), "seed", BinarizerSpec(seed=2)),
    (BinarizerSpec(), "deterministic", BinarizerSpec(deterministic=True)),
    (BinarizerSpec(), "lfsr", BinarizerSpec(lfsr=LfsrSpec(width=16, mask=MASK_16))),
    (BinarizerSpec(), "source", BinarizerSpec(source="shared")),
    (BinarizerSpec(), "shared", BinarizerSpec(shared=SharedLfsrSpec(taps=2))),
    (SharedLfsrSpec(), "width", SharedLfsrSpec(width=32, mask=0x80200003, separation_bits=16)),
    # x^64 + x^4 + x^3 + x + 1, another maximal 64-bit polynomial.
    (SharedLfsrSpec(), "mask", SharedLfsrSpec(mask=0x800000000000000D)),
    (SharedLfsrSpec(), "steps", SharedLfsrSpec(steps=2)),
    (SharedLfsrSpec(), "taps", SharedLfsrSpec(taps=2)),
    (SharedLfsrSpec(), "separation_bits", SharedLfsrSpec(separation_bits=32)),
    (SharedLfsrSpec(), "warmup", SharedLfsrSpec(warmup=0)),
    (PackingSpec(), "word_bits", PackingSpec(word_bits=64)),
    (PackingSpec(), "depth", PackingSpec(depth=2048)),
    (DatapathSpec(), "lanes", DatapathSpec(lanes=16)),
    (DatapathSpec(), "act_bits", DatapathSpec(act_bits=4)),
    (DatapathSpec(), "acc_bits", DatapathSpec(acc_bits=48)),
    (DatapathSpec(), "max_beats", DatapathSpec(max_beats=100)),
    (LinkSpec(), "sync", LinkSpec(sync=0x7E)),
    (LinkSpec(), "max_payload", LinkSpec(max_payload=256)),
    (LinkSpec(), "crc_width", LinkSpec(crc_width=32)),
    (LinkSpec(), "crc_polynomial", LinkSpec(crc_polynomial=0x8005)),
    (LinkSpec(), "crc_initial", LinkSpec(crc_initial=0)),
    (LinkSpec(), "crc_reflect", LinkSpec(crc_reflect=True)),
    (LinkSpec(), "crc_xor_output", LinkSpec(crc_xor_output=0xFFFF)),
    (LinkSpec(), "baud", LinkSpec(baud=3_000_000)),
    (LinkSpec(), "timeout_us", LinkSpec(timeout_us=1000)),
    (LinkSpec(), "protocol_version", LinkSpec(protocol_version=6)),
]


def _differing(a: spec.SpecBase, b: spec.SpecBase) -> set[str]:
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}


def test_fingerprint_is_16_lowercase_hex_digits():
    for s in spec.defaults():
        assert HEX16.fullmatch(s.fingerprint()), s


def test_contract_fingerprint_is_16_lowercase_hex_digits():
    assert HEX16.fullmatch(spec.fingerprint())


@pytest.mark.parametrize("instance", spec.defaults(), ids=lambda s: type(s).__name__)
def test_equal_fields_give_equal_fingerprints(instance):
    fields = {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}
    twin = type(instance)(**fields)
    assert twin is not instance
    assert twin.fingerprint() == instance.fingerprint()


def test_fingerprints_are_the_same_in_another_process():
    """No dependence on hash randomisation, object ids or import order."""
    code = (
        "import spec\n"
        "print(' '.join([s.fingerprint() for s in spec.defaults()] + [spec.fingerprint()]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    here = [s.fingerprint() for s in spec.defaults()] + [spec.fingerprint()]
    assert out == here


@pytest.mark.parametrize(
    ("base", "field", "changed"),
    FIELD_CHANGES,
    ids=[f"{type(b).__name__}.{f}" for b, f, _ in FIELD_CHANGES],
)
def test_fingerprint_changes_with_field(base, field, changed):
    width = {"width", "mask"} | ({"separation_bits"} if isinstance(base, SharedLfsrSpec) else set())
    assert _differing(base, changed) == (width if field == "width" else {field})
    assert changed.fingerprint() != base.fingerprint()


def test_field_changes_cover_every_field():
    """FIELD_CHANGES lists every field of every format but WeightEncoding's fixed one."""
    listed = {(type(b), f) for b, f, _ in FIELD_CHANGES}
    every = {
        (type(s), f.name)
        for s in spec.defaults()
        if not isinstance(s, WeightEncoding)
        for f in dataclasses.fields(s)
    }
    assert listed == every


def test_nested_lfsr_mask_changes_binarizer_fingerprint():
    a = BinarizerSpec(lfsr=LfsrSpec(width=16, mask=MASK_16))
    b = BinarizerSpec(lfsr=LfsrSpec(width=16, mask=OTHER_MASK_16))
    assert a.fingerprint() != b.fingerprint()


def test_fingerprint_distinguishes_classes():
    prints = [s.fingerprint() for s in spec.defaults()]
    assert len(set(prints)) == len(prints)


def test_fingerprint_changes_with_contract_version(monkeypatch):
    before = [s.fingerprint() for s in spec.defaults()]
    monkeypatch.setattr("spec._base.SPEC_VERSION", spec.SPEC_VERSION + 1)
    after = [s.fingerprint() for s in spec.defaults()]
    assert all(a != b for a, b in zip(before, after, strict=True))


# One changed default per format; WeightEncoding has no other legal value.
DEFAULT_CHANGES = {
    ActivationEncoding: {"act_bits": 4},
    LfsrSpec: {"width": 16, "mask": MASK_16},
    BinarizerSpec: {"seed": 2},
    PackingSpec: {"depth": 2048},
    DatapathSpec: {"acc_bits": 48},
    LinkSpec: {"baud": 3_000_000},
}


@pytest.mark.parametrize("cls", list(DEFAULT_CHANGES), ids=lambda c: c.__name__)
def test_contract_fingerprint_changes_with_a_default(monkeypatch, cls):
    before = spec.fingerprint()
    shipped = spec.defaults()
    changed = tuple(
        dataclasses.replace(s, **DEFAULT_CHANGES[cls]) if type(s) is cls else s for s in shipped
    )
    assert changed != shipped
    monkeypatch.setattr(spec, "defaults", lambda: changed)
    assert spec.fingerprint() != before


@pytest.mark.parametrize("cls", list(DEFAULT_CHANGES), ids=lambda c: c.__name__)
def test_contract_fingerprint_changes_when_a_class_default_is_edited(monkeypatch, cls):
    """As if someone edited a default in the class body: ``defaults()`` itself untouched."""
    before = spec.fingerprint()
    names = [f.name for f in dataclasses.fields(cls)]
    edited = list(cls.__init__.__defaults__)
    assert len(edited) == len(names)  # every field has a default, in field order
    for name, value in DEFAULT_CHANGES[cls].items():
        edited[names.index(name)] = value
    monkeypatch.setattr(cls.__init__, "__defaults__", tuple(edited))
    shipped = [s for s in spec.defaults() if type(s) is cls]
    assert all(getattr(shipped[0], k) == v for k, v in DEFAULT_CHANGES[cls].items())
    assert spec.fingerprint() != before
