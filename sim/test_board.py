"""The virtual board (``python -m sim.board``): the board's top in Verilator behind a
pseudo-terminal, with the golden WRN-8-1 digits network in its engine. ``python -m
host.classify`` classifies ten digit images through the pty, bits on the simulated
UART included, and every logit equals ``model.infer``'s; the board stops when the host
closes the pty. (A CIFAR-10 image costs about 150 s of simulation here, most of it
the UART; the WRN-20-1 engine itself is checked in sim/test_engine.py.)"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from golden.network import DIGITS_IMAGES, NETWORK
from host.classify import main as classify

from .tb.toolchain import ROOT, missing

#: Seconds to wait for the board's pty (the first build takes a few minutes).
START_S = 900


def test_classify_through_the_virtual_board(tmp_path: Path, capsys) -> None:
    reason = missing("verilator")
    if reason:
        pytest.skip(reason)
    stimuli = DIGITS_IMAGES
    pty_file = tmp_path / "pty"
    board = subprocess.Popen(
        [sys.executable, "-m", "sim.board", "--network", str(NETWORK), "--engine-lanes", "8",
         "--pty-file", str(pty_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while not pty_file.exists():
            assert board.poll() is None, board.stdout.read() if board.stdout else ""
            assert time.monotonic() < deadline, "the virtual board did not start"
            time.sleep(0.5)
        status = classify(["--port", pty_file.read_text(), "--images", str(stimuli),
                           "--check", str(NETWORK), "--timeout", "120"])  # fmt: skip
        out = capsys.readouterr().out
        assert status == 0, out
        assert "10/10 logits equal" in out and "accuracy:" in out, out
        log, _ = board.communicate(timeout=120)  # it stops once the host closed the pty
        assert board.returncode == 0 and "host closed the pty" in log, log
    finally:
        if board.poll() is None:
            board.kill()
