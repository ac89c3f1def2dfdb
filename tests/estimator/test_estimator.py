"""estimator: its counts against what the project measures, its CLI and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.memory import measure
from estimator import Config, estimate
from estimator.__main__ import main
from estimator.energy import EnergyTable, access_pj
from estimator.fpga import CostModel, bram36
from estimator.memory import saved_bytes
from estimator.network import wrn
from estimator.sweep import main as sweep_main
from estimator.sweep import pareto


@pytest.mark.parametrize(("width", "batch"), [(1, 3), (2, 8), (3, 5), (4, 2)])
@pytest.mark.parametrize("save", ["fp32", "stoch", "det", "det_mse"])
def test_saved_activations_match_bench_memory(width: int, batch: int, save: str) -> None:
    predicted = sum(saved_bytes(layer, batch, save) for layer in wrn(20, width).layers)
    counted = measure(width, batch, save).activation_bytes
    assert predicted == counted


def test_saved_activations_match_other_depths_and_classes() -> None:
    import torch

    from bench.memory import count_saved
    from model.nn.wrn import WideResNet

    torch.manual_seed(0)
    net = WideResNet(width=1, num_classes=100, blocks=2, save="stoch")
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    counted = count_saved(net, images, torch.zeros(4, dtype=torch.long)).activation_bytes
    predicted = sum(saved_bytes(layer, 4, "stoch") for layer in wrn(14, 1, 100).layers)
    assert predicted == counted


def _peak_rows() -> list[dict]:
    doc = json.loads((Path(__file__).parents[2] / "bench/results/peak_memory.json").read_text())
    assert doc["device"] == "cpu" and doc["batch"] == 128
    return doc["rows"]


@pytest.mark.parametrize("row", _peak_rows(), ids=lambda r: f"w{r['width']}-{r['variant']}")
def test_step_peak_within_10_percent_of_bench_peak_memory(row: dict) -> None:
    """The estimator's peak of a training step against ``python -m bench.peak_memory``'s
    measured rise of the process high-water mark (CPU, batch 128)."""
    from estimator.memory import step_peak_bytes

    save = row["variant"].removesuffix("_bf16")
    if row["variant"] in ("ckpt", "bf16", "ckpt_bf16"):
        pytest.skip("plain PyTorch checkpointing and autocast are not modelled")
    predicted = step_peak_bytes(wrn(20, row["width"]), 128, save, bf16=row["variant"] != save)
    measured = row["peak_rise_MiB"] * 2**20
    assert abs(predicted - measured) <= 0.10 * measured, (predicted / 2**20, row)


@pytest.mark.parametrize("width", [1, 3, 10])
def test_parameter_count_matches_the_model(width: int) -> None:
    from model.nn.wrn import wrn20

    assert wrn(20, width).params == sum(p.numel() for p in wrn20(width, 10).parameters())


def test_json_has_saved_activation_bytes(capsys: pytest.CaptureFixture) -> None:
    assert main(["--width", "10", "--batch", "125", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    saved = doc["saved_activation_bytes"]
    assert set(saved) == {"fp32", "stoch", "det", "det_mse"} and all(
        isinstance(v, int) for v in saved.values()
    )
    assert saved["fp32"] / saved["stoch"] > 25
    assert doc["params"] == 26_737_126


def test_the_cli_does_not_import_torch() -> None:
    code = "import sys, estimator.__main__ as m; m.main(['--json']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def test_report_names_every_layer(capsys: pytest.CaptureFixture) -> None:
    assert main(["--width", "2", "--board", "ulx3s", "--weights", "1"]) == 0
    out = capsys.readouterr().out
    assert "blocks.8.conv2" in out and "head_bn" in out and "LFE5U-85F" in out


def test_lanes_wider_than_32_widen_the_word(capsys: pytest.CaptureFixture) -> None:
    assert main(["--lanes", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["word_bits"] == 64


def test_accumulator_bound_is_this_networks_longest_dot_product(
    capsys: pytest.CaptureFixture,
) -> None:
    """16-bit codes over WRN-20-1's longest dot product (64 * 9 products) fit 32 bits."""
    assert main(["--act-bits", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["act_bits"] == 16


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lanes", "3"], "lanes"),
        (["--depth", "21"], "depth must be 6n + 2"),
        (["--batch", "0"], "batch must be a positive integer"),
        (["--lanes", "64", "--word-bits", "32"], "no larger than word_bits=32, not 64"),
        (["--lanes", "4096"], "lanes must be at most 64"),
        (["--width", "1000000000"], "width must be in 1..1024"),
        (["--input-size", "30"], "divisible by 4"),
    ],
)
def test_bad_configuration(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_energy_table_overrides(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table = tmp_path / "e.json"
    table.write_text(json.dumps({"dram_64b": 2600}))
    base = estimate(Config(width=4))
    more = estimate(Config(width=4), energy=EnergyTable.load(table))
    fp32 = base["energy_pj_per_image"]["training"]["fp32"]
    fp32_more = more["energy_pj_per_image"]["training"]["fp32"]
    assert fp32["saved_in"] == "dram_64b"
    assert fp32_more["saved_activations"] == pytest.approx(2 * fp32["saved_activations"])
    table.write_text(json.dumps({"dram": 1}))
    assert main(["--energy-table", str(table)]) == 2
    assert "unknown entry 'dram'" in capsys.readouterr().err


def test_memory_classes() -> None:
    t = EnergyTable.load()
    assert access_pj(t, 8 * 1024) == ("sram_8kb_64b", 10.0)
    assert access_pj(t, 8 * 1024 + 1)[0] == "sram_32kb_64b"
    assert access_pj(t, 2 << 20) == ("dram_64b", 1300.0)


@pytest.mark.parametrize(
    ("depth", "word_bits", "want"),
    [(1024, 32, 1.0), (512, 32, 0.5), (4096, 32, 4.0), (1024, 64, 2.0), (2048, 16, 1.0)],
)
def test_bram_tiling(depth: int, word_bits: int, want: float) -> None:
    assert bram36(depth, word_bits) == want


def test_pareto_front() -> None:
    pts = [(1, 5), (2, 3), (3, 4), (4, 1), (5, 1)]
    assert pareto(pts) == [0, 1, 3]


def test_sweep_writes_csv_and_plots(tmp_path: Path) -> None:
    argv = ["--widths", "1", "2", "--batches", "16", "--lanes", "8", "--out", str(tmp_path)]
    assert sweep_main(argv) == 0
    lines = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 4 * 2  # header + widths x modes x weight bits
    for png in ("memory_vs_width.png", "energy_vs_memory.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# Three datapath configurations that bench.resources does not calibrate on.
VALIDATION = [(16, 8, 32, 2048), (64, 4, 64, 512), (8, 6, 16, 4096)]


@pytest.mark.parametrize(("lanes", "act_bits", "word_bits", "depth"), VALIDATION)
def test_fpga_model_within_15_percent_of_yosys(
    lanes: int, act_bits: int, word_bits: int, depth: int, tmp_path: Path
) -> None:
    from bench.resources import CALIBRATION, datapath_blocks, utilization

    assert (lanes, act_bits, word_bits, depth) not in CALIBRATION
    got = {"lut": 0, "bram": 0}
    for block, make in datapath_blocks(lanes, act_bits, word_bits, depth).items():
        util = utilization(make, tmp_path / block)
        got["lut"] += util["lut"]
        got["bram"] += util["bram"]
    predicted = CostModel.load().predict(
        lanes=lanes, act_bits=act_bits, word_bits=word_bits, depth=depth
    )
    assert abs(predicted["lut"] - got["lut"]) <= 0.15 * got["lut"], (predicted, got)
    assert abs(predicted["bram36"] - got["bram"]) <= 0.15 * got["bram"], (predicted, got)


def test_engine_estimate_prices_the_engines_own_buffers() -> None:
    """WRN-20-1 at 16 lanes, worked by hand: the first stage's stream is 32 x 32 pixels
    of one 16-channel word (1,024 words of 16 x 26 bits: two banks of 512 words, each
    6 RAMB36 as 512 x 72); the second stage's 16 x 16 pixels of two words (512: one
    bank); the weights one word per output group, tap and input group (stem 9, first
    stage 6 x 9, second 18 + 5 x 36, third 72 + 5 x 144, head 4: 1,057 words of 256
    bits: three banks of 4 RAMB36); a 26 x 16-bit product takes two DSP48E1 per lane,
    plus two for addresses."""
    g = estimate(Config(engine_lanes=16, engine_stream_bits=26))["engine"]
    assert g["memories"]["x0"] == {"words": 1024, "bits": 416, "banks": 2, "bram36": 12.0}
    assert g["memories"]["x1"]["words"] == 512 and g["memories"]["x1"]["banks"] == 1
    weights = g["memories"]["weights"]
    assert weights["words"] == 9 + 54 + 18 + 180 + 72 + 720 + 4
    assert weights["banks"] == 3 and weights["bram36"] == 12.0
    assert g["dsp"] == 34 and g["bram_fits"] and g["dsp_fits"]
    assert g["images_per_s"] == round(100e6 / g["cycles_per_image"], 1)
