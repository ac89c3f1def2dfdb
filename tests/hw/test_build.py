# amaranth: UnusedElaboratable=no
"""``python -m hw.build``: bad arguments exit 2 with the valid choices; the Arty A7 flow
without Vivado writes its files and a utilization report that fits the part."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hw.build import main


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code)


def test_unknown_board_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--board", "de10"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'de10' (choose from 'arty_a7', 'icebreaker', 'ulx3s')" in err
    assert "Traceback" not in err


def test_unknown_variant_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--board", "arty_a7", "--variant", "50t"]) == 2
    assert "--variant for arty_a7 must be one of 35t, 100t, not '50t'" in capsys.readouterr().err


def test_bad_lanes_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--board", "arty_a7", "--lanes", "12"]) == 2
    assert "lanes" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("vivado") is not None, reason="Vivado would build for minutes")
def test_arty_without_vivado(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--board", "arty_a7", "--out", str(tmp_path)]) == 0
    for name in ("top.v", "top.xdc", "top.tcl", "build_top.sh", "utilization.txt"):
        assert (tmp_path / name).is_file(), name
    report = json.loads((tmp_path / "utilization.json").read_text())
    assert report["part"] == "xc7a35ti" and report["fits"] is True
    assert report["used"]["bram"] > 0 and report["used"]["lut"] > 1000
    assert report["available"] == {"lut": 20800, "ff": 41600, "bram": 50, "dsp": 90}
    assert "vivado is not on PATH" in capsys.readouterr().out
