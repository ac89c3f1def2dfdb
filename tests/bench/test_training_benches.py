"""bench.memory, bench.train_speed and bench.accuracy run, measure and write their JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import accuracy, memory, peak_memory, train_speed


def test_memory_table_and_ratio(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.json"
    assert memory.main(["--widths", "1", "--batch", "4", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["save"] for r in rows] == ["fp32", "stoch", "det", "det_mse"]
    assert rows[1]["fp32_over_mode"] > 25
    assert "fp32_over_mode" in capsys.readouterr().out


def test_train_speed_times_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    argv = ["--width", "1", "--batch", "4", "--rounds", "1", "--device", "cpu", "--out", str(out)]
    assert train_speed.main(argv) == 0
    doc = json.loads(out.read_text())
    assert [r["save"] for r in doc["rows"]] == ["fp32", "stoch", "det", "det_mse"]
    assert all(r["median_ms"] > 0 for r in doc["rows"]) and doc["rows"][0]["over_fp32"] == 1.0


def test_accuracy_compares_every_configuration(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    argv = [
        "--seeds",
        "0",
        "--out",
        str(out),
        "--",
        "--train-subset",
        "60",
        "--test-subset",
        "30",
        "--epochs",
        "1",
        "--batch",
        "30",
    ]
    assert accuracy.main(argv) == 0
    doc = json.loads(out.read_text())
    assert len(doc["rows"]) == 6 and len(doc["runs"]) == 6
    assert doc["config"]["train_subset"] == 60


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        (memory, ["--batch", "0"]),
        (train_speed, ["--rounds", "0"]),
        (train_speed, ["--device", "cuda:7"]),
        (peak_memory, ["--batch", "0"]),
        (peak_memory, ["--variants", "fp16"]),
        (peak_memory, ["--device", "cuda"]),
    ],
)
def test_bad_arguments_exit_2(module, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as e:
        module.main(argv)
    assert e.value.code == 2


def test_peak_memory_measures_each_variant_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    argv = ["--widths", "1", "--batch", "16", "--rounds", "1", "--variants", "fp32", "stoch"]
    assert peak_memory.main([*argv, "--device", "cpu", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["variant"] for r in doc["rows"]] == ["fp32", "stoch"]
    fp32, stoch = (r["peak_rise_MiB"] for r in doc["rows"])
    assert fp32 > 2 * stoch > 0  # even WRN-20-1 at batch 16 keeps far less in stoch
    assert [r["variant"] for r in doc["timing"]] == ["fp32", "stoch"]
    assert doc["timing"][0]["over_fp32"] == 1.0 and doc["timing"][1]["median_ms"] > 0
    assert doc["cpu_env"]["MALLOC_MMAP_THRESHOLD_"] == "65536"


def test_readme_tables_are_the_bench_results() -> None:
    """Every measured table in README.md is what `python -m bench.readme` renders from
    bench/results: a figure typed by hand, or a result file rerun without the README,
    fails here."""
    from bench import readme

    text = readme.README.read_text()
    assert all(f"<!-- bench:{name} -->" in text for name in readme.TABLES)
    assert readme.render(text)[1] == []


def test_readme_rewrites_a_stale_table() -> None:
    from bench import readme

    stale = "intro\n<!-- bench:peak_timing -->\n| old |\n<!-- /bench:peak_timing -->\nend\n"
    text, changed = readme.render(stale)
    assert changed == ["peak_timing"] and "| old |" not in text and "`fp32`" in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    assert readme.render(text)[1] == []
