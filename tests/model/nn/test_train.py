"""model.nn.data and ``python -m model.train``: datasets, schedule, CLI, resume, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from model.nn import data as data_mod
from model.nn import train as train_mod
from model.nn.data import DatasetError, augment, load
from model.nn.train import lr_at, main

SMALL = ["--train-subset", "250", "--test-subset", "100", "--width", "1", "--batch", "50"]


def test_digits_are_uint8_32x32_rgb_with_a_fixed_split() -> None:
    d = load("digits")
    assert d.train_x.shape == (1437, 3, 32, 32) and d.test_x.shape == (360, 3, 32, 32)
    assert d.train_x.dtype == torch.uint8 and int(d.train_x.max()) == 255
    assert sorted(set(d.test_y.tolist())) == list(range(10))
    assert torch.equal(load("digits").test_x, d.test_x)


def _write_cifar10(root: Path, n: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        doc = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(doc))


def test_cifar10_reads_the_official_layout(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    d = load("cifar10", tmp_path)
    assert d.train_x.shape == (100, 3, 32, 32) and d.test_x.shape == (20, 3, 32, 32)
    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes())
    assert d.test_x[3].flatten().tolist() == raw[b"data"][3].tolist()  # channel-major
    assert d.flip and d.num_classes == 10


def test_cifar_errors_name_the_place_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"cifar-10-batches-py.*add --download"):
        load("cifar10", tmp_path)
    with pytest.raises(DatasetError, match="needs --data-dir"):
        load("cifar100")
    _write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3 is not a CIFAR python pickle"):
        load("cifar10", tmp_path)


def _archive(tmp_path: Path) -> tuple[str, str]:
    """A CIFAR-10-shaped .tar.gz behind a file:// URL, and its MD5."""
    import hashlib
    import tarfile

    src = tmp_path / "src"
    _write_cifar10(src, n=4)
    tgz = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return tgz.as_uri(), hashlib.md5(tgz.read_bytes()).hexdigest()


def test_download_checks_the_checksum_and_unpacks_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, md5 = _archive(tmp_path)
    dest = tmp_path / "data"
    monkeypatch.setitem(data_mod.ARCHIVES, "cifar10", (url, "0" * 32, "cifar-10-batches-py"))
    with pytest.raises(DatasetError, match="is not the published 0000"):
        data_mod.download("cifar10", dest, log=False)
    assert sorted(p.name for p in dest.iterdir()) == []  # nothing half-written
    monkeypatch.setitem(data_mod.ARCHIVES, "cifar10", (url, md5, "cifar-10-batches-py"))
    root = data_mod.download("cifar10", dest, log=False)
    assert root == dest / "cifar-10-batches-py" and load("cifar10", dest).test_x.shape[0] == 4
    assert sorted(p.name for p in dest.iterdir()) == ["cifar-10-batches-py"]


def test_download_offline_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    gone = (tmp_path / "nowhere.tar.gz").as_uri()
    monkeypatch.setitem(data_mod.ARCHIVES, "cifar10", (gone, "0" * 32, "cifar-10-batches-py"))
    argv = ["--dataset", "cifar10", "--download", "--data-dir", str(tmp_path / "d")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot download cifar10" in err and "put the official python pickles in" in err
    assert "Traceback" not in err


def test_augment_crops_flips_and_cuts_out() -> None:
    x = torch.randint(1, 256, (5, 3, 32, 32), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment(x, g, flip=False, pad=0), x)
    y = augment(x, g, flip=True)
    assert y.shape == x.shape and y.dtype == torch.uint8
    z = augment(x, g, flip=False, pad=0, cutout=8)
    zeroed = (z == 0).all(dim=1).sum(dim=(1, 2))
    assert ((zeroed > 0) & (zeroed <= 64)).all(), zeroed


def test_cosine_schedule() -> None:
    assert lr_at(0, 10, 0.1, False) == pytest.approx(0.1)
    assert lr_at(5, 10, 0.1, False) == pytest.approx(0.05)
    assert lr_at(10, 10, 0.1, False) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(1.0, 10, 0.1, True) == pytest.approx(0.1)  # restart after 1 epoch
    assert lr_at(2.0, 10, 0.1, True) == pytest.approx(0.05)  # half-way through 2
    assert lr_at(3.0, 10, 0.1, True) == pytest.approx(0.1)  # then periods of 4


def test_train_writes_test_acc(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.json"
    assert main([*SMALL, "--epochs", "1", "--save", "stoch", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert 0 <= doc["test_acc"] <= 1 and len(doc["history"]) == 1
    assert doc["save"] == "stoch" and doc["train_images"] == 250
    assert "epoch 1/1" in capsys.readouterr().err


@pytest.mark.parametrize("random", ["torch", "shared"])
def test_resume_continues_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, random: str
) -> None:
    """Ctrl-C mid-run exits 130 with how to go on, the checkpoint holds the finished
    epoch (with the random source's place), and --resume ends where the uninterrupted
    run ends."""
    args = [*SMALL, "--epochs", "2", "--binary-weights", "--random", random]
    straight = tmp_path / "a.json"
    assert main([*args, "--out", str(straight)]) == 0
    ckpt, resumed = tmp_path / "c.pt", tmp_path / "b.json"
    real = train_mod.evaluate
    calls = []

    def crash_after_first_epoch(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(train_mod, "evaluate", crash_after_first_epoch)
    assert main([*args, "--checkpoint", str(ckpt), "--out", str(resumed)]) == 130
    assert f"interrupted: {ckpt} holds the last finished epoch: add --resume" in (
        capsys.readouterr().err
    )
    assert ckpt.exists() and not resumed.exists()
    monkeypatch.setattr(train_mod, "evaluate", real)
    assert main([*args, "--checkpoint", str(ckpt), "--resume", "--out", str(resumed)]) == 0
    a, b = json.loads(straight.read_text()), json.loads(resumed.read_text())
    assert a["history"] == b["history"] and a["test_acc"] == b["test_acc"]


def test_random_source_draws_the_stochastic_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--random shared`` takes every stochastic bit from the shared LFSR: the run
    draws codes and no torch random words for them, and its result differs from the
    torch-RNG run of the same seed."""
    taken: list[int] = []
    real = train_mod.CodeStream.take

    def count(self, n):  # type: ignore[no-untyped-def]
        taken.append(n)
        return real(self, n)

    monkeypatch.setattr(train_mod.CodeStream, "take", count)
    out = {}
    for random in ("torch", "shared"):
        out[random] = tmp_path / f"{random}.json"
        argv = [*SMALL, "--epochs", "1", "--random", random, "--out", str(out[random])]
        assert main(argv) == 0
        if random == "torch":
            assert taken == []
    assert sum(taken) > 250 * 16 * 32 * 32  # at least the first layer's activations
    a, b = (json.loads(p.read_text()) for p in out.values())
    assert a["random"] == "torch" and b["random"] == "shared"
    assert a["history"][0]["train_loss"] != b["history"][0]["train_loss"]


def test_resume_extends_a_finished_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt, out = tmp_path / "c.pt", tmp_path / "r.json"
    assert main([*SMALL, "--epochs", "1", "--checkpoint", str(ckpt)]) == 0
    assert (
        main([*SMALL, "--epochs", "2", "--checkpoint", str(ckpt), "--resume", "--out", str(out)])
        == 0
    )
    assert "extending the run from 1 to 2 epochs" in capsys.readouterr().err
    assert [h["epoch"] for h in json.loads(out.read_text())["history"]] == [1, 2]
    assert main([*SMALL, "--epochs", "1", "--checkpoint", str(ckpt), "--resume"]) == 2
    assert "already has 2 epochs, more than --epochs 1" in capsys.readouterr().err


def test_resume_refuses_another_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tmp_path / "c.pt"
    assert main([*SMALL, "--epochs", "1", "--checkpoint", str(ckpt)]) == 0
    assert (
        main([*SMALL, "--epochs", "1", "--save", "det", "--checkpoint", str(ckpt), "--resume"]) == 2
    )
    assert "is for another run (differs in ['save'])" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "--epochs must be positive"),
        (["--save", "fp16"], "invalid choice: 'fp16'"),
        (["--resume"], "--resume needs --checkpoint"),
        (["--export", "w.npz"], "add --binary-weights"),
        (["--random", "shared", "--save", "det"], "--save det draws none"),
        (["--random", "mt19937"], "invalid choice: 'mt19937'"),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_missing_cifar_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "cifar10", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cifar10: no folder") and "Traceback" not in err
