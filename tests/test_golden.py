"""The committed golden set is exactly what the generator makes, and tampering shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import golden
from golden.__main__ import main
from golden.generate import GOLDEN_DIR, MANIFEST, differences
from golden.network import DIGITS_IMAGES, digits_8x8


def test_committed_set_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert "is current" in capsys.readouterr().out


def test_regeneration_reproduces_committed_bytes(tmp_path: Path) -> None:
    assert main(["--dir", str(tmp_path), "-q"]) == 0
    committed = sorted(p.relative_to(GOLDEN_DIR) for p in GOLDEN_DIR.glob("*/*.npz"))
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.glob("*/*.npz"))
    assert committed == fresh and len(fresh) > 50
    for rel in [*fresh, Path(MANIFEST)]:
        assert (tmp_path / rel).read_bytes() == (GOLDEN_DIR / rel).read_bytes(), rel


@pytest.fixture
def copy_of_golden(tmp_path: Path) -> Path:
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def test_edited_file_is_named(copy_of_golden: Path) -> None:
    victim = copy_of_golden / "pack" / "word8_ones.npz"
    data = bytearray(victim.read_bytes())
    data[-30] ^= 1
    victim.write_bytes(bytes(data))
    problems = differences(copy_of_golden)
    assert any(p.startswith("pack/word8_ones.npz: sha256 differs") for p in problems)
    assert all("word8_ones" in p for p in problems)


def test_missing_and_stale_files_are_named(copy_of_golden: Path) -> None:
    (copy_of_golden / "lfsr" / "lanes1_bits1_seed00000001.npz").unlink()
    (copy_of_golden / "lfsr" / "extra.npz").write_bytes(b"")
    problems = differences(copy_of_golden)
    assert "lfsr/lanes1_bits1_seed00000001.npz: missing" in problems
    assert "lfsr/extra.npz: not made by the generator (stale)" in problems


def test_changed_spec_field_fails_naming_the_fingerprint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import spec.lfsr

    # A different maximal 32-bit polynomial (XAPP052: taps 32,30,26,25) as the default.
    monkeypatch.setattr(spec.lfsr.LfsrSpec.__init__, "__defaults__", (32, 0xA3000000))
    assert main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "spec_fingerprint changed" in err
    assert "lfsr/lanes32_bits8_seed00000001.npz: differs from a fresh generation" in err


def test_loader_returns_arrays_and_meta() -> None:
    cases = golden.cases("xnor_acc")
    limit = next(c for c in cases if c.name == "limit_xnor_lanes1_acc8")
    assert limit.meta["acc_bits"] == 8
    assert sorted(limit.arrays["sums"].tolist()) == [-127, 127]


def test_loader_refuses_unknown_block() -> None:
    with pytest.raises(
        ValueError, match="block must be one of binarize, intnet, lfsr, pack, shared_lfsr, store"
    ):
        golden.cases("nope")


def test_digit_images_are_the_first_ten_test_digits() -> None:
    """golden/digits_test_images.npz (what the README's classify command sends) is the
    first ten test images of the digits split the golden network was trained on."""
    _, _, images, labels = digits_8x8()
    with np.load(DIGITS_IMAGES) as z:
        assert (z["images"] == images[:10]).all() and (z["labels"] == labels[:10]).all()
