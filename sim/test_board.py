"""The virtual board (``python -m sim.board``): the Arty's top in Verilator behind a
pseudo-terminal, with the committed WRN-20-1 CIFAR-10 network in its engine (16 lanes,
the default). ``python -m host.classify`` classifies the ten golden CIFAR-10 test
images (one per class) through the pty, bits on the simulated UART included, and every
logit equals ``model.infer``'s; the board stops when the host closes the pty. A layer
is read back through RUN_TO and READ_LAYER. About 12 s of simulation per image here,
plus a minute or two of build."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from golden.network import CIFAR_IMAGES, CIFAR_NETWORK
from host import Device
from host.classify import main as classify
from model import infer
from model.intnet import layer_words, load
from spec.engine import EngineSpec

from .tb.toolchain import ROOT, missing

#: Seconds to wait for the board's pty (the first build takes a few minutes).
START_S = 900


@contextmanager
def virtual_board(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m sim.board`` with the committed CIFAR-10 network: its pty's path and
    the process (reaped on the way out; killed if it has not stopped a minute after
    the host closed the pty)."""
    reason = missing("verilator")
    if reason:
        pytest.skip(reason)
    pty_file = tmp_path / "pty"
    pty_file.unlink(missing_ok=True)
    board = subprocess.Popen(
        [sys.executable, "-m", "sim.board", "--network", str(CIFAR_NETWORK),
         "--pty-file", str(pty_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while not pty_file.exists():
            assert board.poll() is None, board.stdout.read() if board.stdout else ""
            assert time.monotonic() < deadline, "the virtual board did not start"
            time.sleep(0.5)
        yield pty_file.read_text(), board
    finally:
        try:
            board.communicate(timeout=60)  # it stops once the host closed the pty
        except subprocess.TimeoutExpired:
            board.kill()
            board.communicate()


def test_classify_through_the_virtual_board(tmp_path: Path, capsys) -> None:
    with virtual_board(tmp_path) as (pty, board):
        status = classify(["--port", pty, "--images", str(CIFAR_IMAGES),
                           "--check", str(CIFAR_NETWORK), "--timeout", "120"])  # fmt: skip
        out = capsys.readouterr().out
        assert status == 0, out
        assert "10/10 logits equal" in out and "accuracy:" in out, out
        log, _ = board.communicate(timeout=120)  # it stops once the host closed the pty
        assert board.returncode == 0 and "host closed the pty" in log, log


def test_a_layer_read_back_through_the_virtual_board(tmp_path: Path) -> None:
    """RUN_TO and READ_LAYER through the pty: the engine stopped after block 4 (a stream
    of signed values), its first 16 and last 4 words equal ``model.infer``'s, then
    resumed to the right logits. (Every layer of WRN-20-1 would take half an hour through
    the simulated UART; ``tests/test_host.py`` and ``tests/hw/test_engine_commands.py``
    read them all.)"""
    net = load(CIFAR_NETWORK)
    with np.load(CIFAR_IMAGES) as z:
        image = z["images"][:1]
    logits, trace = infer.run(net, image, trace=True)
    with virtual_board(tmp_path) as (pty, _), Device.open(pty, timeout=120) as dev:
        lanes = dev.info.engine_lanes
        index, words = EngineSpec(lanes=lanes).layers(net.spec)["blocks.4.out"]
        want = layer_words(trace["blocks.4.out"][0], lanes)
        dev.run_to(index)
        dev.send_image(image[0].transpose(1, 2, 0).tobytes())
        while dev.read_layer(0, 0) is None:
            time.sleep(0.5)
        assert dev.read_layer(0, 16) == want[:16].ravel().tolist()
        assert dev.read_layer(words - 4, 4) == want[-4:].ravel().tolist()
        assert min(want[:16].ravel()) < 0 < max(want[:16].ravel())  # both signs seen
        dev.run_to(None)
        while (got := dev.read_logits()) is None:
            time.sleep(0.5)
        assert got == logits[0].tolist()
