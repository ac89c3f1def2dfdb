"""A careless user's mistakes, across every command: each ends in exit status 2 with one
clear message that names the input, never a traceback, and nothing written."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from golden.network import CIFAR_NETWORK, NETWORK

CORRUPT = Path(__file__).resolve()  # a file that is no checkpoint, no JSON table, no folder

CASES = [
    # (module, argv, name of the input the message must mention)
    ("hw.build", ["--board", "nope"], "board"),
    ("hw.build", ["--board", "arty_a7", "--variant", "200t"], "variant"),
    ("hw.build", ["--board", "arty_a7", "--lanes", "12"], "lanes"),
    ("hw.build", ["--board", "arty_a7", "--lanes", "0"], "lanes"),
    ("hw.build", ["--board", "arty_a7", "--baud", "0"], "baud"),
    ("hw.build", ["--board", "arty_a7", "--out", str(CORRUPT)], "out"),
    ("hw.build", ["--board", "arty_a7", "--network", str(CORRUPT)], "integer network"),
    (
        "hw.build",
        ["--board", "icebreaker", "--network", str(CIFAR_NETWORK)],
        "block RAM",
    ),
    (
        "hw.build",
        [
            "--board",
            "arty_a7",
            "--network",
            str(NETWORK),
            "--engine-lanes",
            "3",
        ],
        "engine-lanes",
    ),
    ("host.classify", ["--port", "x", "--images", str(CORRUPT)], "images"),
    ("host.classify", ["--port", "x", "--images", str(CORRUPT), "--limit", "0"], "limit"),
    ("golden", ["--dir", str(CORRUPT)], "dir"),
    ("golden", ["--check", "--dir", "/nonexistent-golden"], "dir"),
    ("estimator", ["--lanes", "4096"], "lanes"),
    ("estimator", ["--lanes", "3"], "lanes"),
    ("estimator", ["--engine-lanes", "3"], "lanes"),
    ("estimator", ["--engine-stream-bits", "4"], "engine_stream_bits"),
    ("estimator", ["--lanes", "64", "--word-bits", "32"], "word_bits"),
    ("estimator", ["--word-bits", "12"], "word_bits"),
    ("estimator", ["--width", "0"], "width"),
    ("estimator", ["--width", "1000000000"], "width"),
    ("estimator", ["--depth", "21"], "depth"),
    ("estimator", ["--batch", "0"], "batch"),
    ("estimator", ["--act-bits", "0"], "act_bits"),
    ("estimator", ["--act-bits", "17"], "act_bits"),
    ("estimator", ["--input-size", "30"], "size"),
    ("estimator", ["--board", "nope"], "board"),
    ("estimator", ["--save", "fp16"], "save"),
    ("estimator", ["--clock-mhz", "0"], "clock_mhz"),
    ("estimator", ["--energy-table", "/nonexistent.json"], "energy-table"),
    ("estimator", ["--energy-table", str(CORRUPT)], "energy-table"),
    ("estimator.sweep", ["--lanes", "128", "--no-plots"], "lanes"),
    ("estimator.sweep", ["--widths", "0", "--no-plots"], "width"),
    ("estimator.sweep", ["--out", str(CORRUPT)], "out"),
    ("model.train", ["--device", "foo"], "device"),
    ("model.train", ["--device", "cuda:7"], "device"),
    ("model.train", ["--width", "0"], "width"),
    ("model.train", ["--width", "1000000000"], "width"),
    ("model.train", ["--epochs", "0"], "epochs"),
    ("model.train", ["--batch", "0"], "batch"),
    ("model.train", ["--lr", "0"], "lr"),
    ("model.train", ["--cutout", "-1"], "cutout"),
    ("model.train", ["--save", "fp16"], "save"),
    ("model.train", ["--amp", "fp16"], "amp"),
    ("model.train", ["--out", "/proc/nowhere/r.json"], "out"),
    ("model.train", ["--checkpoint", f"{CORRUPT}/c.pt"], "checkpoint"),
    ("model.train", ["--binary-weights", "--export", "/proc/nowhere/w.npz"], "export"),
    ("model.train", ["--export", "w.npz"], "export"),
    ("model.train", ["--resume"], "resume"),
    ("model.train", ["--resume", "--checkpoint", str(CORRUPT)], "checkpoint"),
    ("model.train", ["--dataset", "cifar10", "--data-dir", "/nonexistent-data"], "cifar"),
    ("model.train", ["--download"], "download"),
    ("bench.memory", ["--batch", "0"], "batch"),
    ("bench.memory", ["--out", f"{CORRUPT}/m.json"], "out"),
    ("bench.train_speed", ["--rounds", "0"], "rounds"),
    ("bench.train_speed", ["--device", "cuda:7"], "device"),
    ("bench.peak_memory", ["--variants", "fp16"], "variants"),
    ("bench.peak_memory", ["--batch", "0"], "batch"),
    ("bench.peak_memory", ["--out", "/proc/nowhere/p.json"], "out"),
    ("bench.lfsr", ["--out", "/proc/nowhere/l.json"], "out"),
    ("bench.lfsr", ["-n", "0"], "-n"),
    ("bench.accuracy", ["--out", "/proc/nowhere/a.json"], "out"),
    ("bench.xnor_floor", ["--out", "/proc/nowhere/x.json"], "out"),
    ("bench.resources", ["--out", "/proc/nowhere/r.json"], "out"),
    ("bench.sim_speed", ["--out", "/proc/nowhere/s.json"], "out"),
    ("bench.board", ["--out", "/proc/nowhere/b.json"], "out"),
    ("bench.infer", ["--out", "/proc/nowhere/i.json"], "out"),
    ("bench.deploy", ["--checkpoint", str(CORRUPT)], "checkpoint"),
    ("bench.deploy", ["--checkpoint", str(CORRUPT), "--act-bits", "9"], "act-bits"),
    ("bench.infer", ["--images", "0"], "images"),
    ("bench.infer", ["--net", str(CORRUPT)], "net"),
    ("model.deploy", [str(CORRUPT), "--out", "n.npz", "--act-bits", "9"], "act-bits"),
    ("model.deploy", [str(CORRUPT), "--out", "n.npz", "--act-bits", "0"], "act-bits"),
    (
        "model.deploy",
        [str(CORRUPT), "--out", "n.npz", "--calibration-images", "0"],
        "calibration-images",
    ),
    ("model.deploy", ["/nonexistent.pt", "--out", "n.npz"], "checkpoint"),
    ("model.deploy", [str(CORRUPT), "--out", "n.npz"], "checkpoint"),
    ("model.deploy", [str(CORRUPT), "--out", "/proc/nowhere/n.npz"], "out"),
]


def _main(module: str):  # type: ignore[no-untyped-def]
    mod = importlib.import_module(module)
    if not hasattr(mod, "main"):
        mod = importlib.import_module(module + ".__main__")
    return mod.main


@pytest.mark.parametrize(
    ("module", "argv", "name"), CASES, ids=[f"{m}:{' '.join(a)}"[:60] for m, a, _ in CASES]
)
def test_bad_invocation_exits_2_naming_the_input(
    module: str,
    argv: list[str],
    name: str,
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written by mistake lands here, and is seen
    try:
        status = _main(module)(argv)
    except SystemExit as e:  # argparse's parser.error
        status = e.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    plain = name.lstrip("-")
    assert plain in message or plain.replace("_", "-") in message, message
    assert list(tmp_path.iterdir()) == [], "a failed command left files behind"


def test_matrix_covers_every_command() -> None:
    assert len(CASES) >= 40
    commands = {m for m, _, _ in CASES}
    assert {"hw.build", "golden", "estimator", "estimator.sweep", "model.train"} <= commands
    assert len({m for m in commands if m.startswith("bench.")}) >= 8
