"""The virtual board (``python -m sim.board``): the Arty's top in Verilator behind a
pseudo-terminal, with the committed WRN-20-1 CIFAR-10 network in its engine (16 lanes,
the default). ``python -m host.classify`` classifies the ten golden CIFAR-10 test
images (one per class) through the pty, bits on the simulated UART included, and every
logit equals ``model.infer``'s; the board stops when the host closes the pty. About
12 s of simulation per image here, plus a minute or two of build."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from golden.network import CIFAR_IMAGES, CIFAR_NETWORK
from host.classify import main as classify

from .tb.toolchain import ROOT, missing

#: Seconds to wait for the board's pty (the first build takes a few minutes).
START_S = 900


def test_classify_through_the_virtual_board(tmp_path: Path, capsys) -> None:
    reason = missing("verilator")
    if reason:
        pytest.skip(reason)
    pty_file = tmp_path / "pty"
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
        status = classify(["--port", pty_file.read_text(), "--images", str(CIFAR_IMAGES),
                           "--check", str(CIFAR_NETWORK), "--timeout", "120"])  # fmt: skip
        out = capsys.readouterr().out
        assert status == 0, out
        assert "10/10 logits equal" in out and "accuracy:" in out, out
        log, _ = board.communicate(timeout=120)  # it stops once the host closed the pty
        assert board.returncode == 0 and "host closed the pty" in log, log
    finally:
        if board.poll() is None:
            board.kill()
