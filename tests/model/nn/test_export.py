"""model.nn.export: the hardware weight format and the datapath check of a trained layer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import spec
from model.nn import export
from model.nn.export import check_layer, conv_codes, export_weights, filter_bits
from model.nn.train import main
from model.nn.wrn import wrn20
from model.pack import pack_bits, unpack_bits


def test_filter_bits_run_kh_kw_then_input_channel_fastest() -> None:
    w = torch.full((1, 2, 2, 2), -1.0)  # (out, in, kh, kw)
    w[0, 1, 0, 1] = 0.5  # in=1, kh=0, kw=1 -> index (kh*2 + kw)*2 + in = 3
    w[0, 0, 1, 0] = 0.0  # in=0, kh=1, kw=0 -> index 4; 0 counts as +1
    assert filter_bits(w).tolist() == [[0, 0, 0, 1, 1, 0, 0, 0]]
    assert pack_bits(filter_bits(w)[0], 8).tolist() == [0x18]  # docs/formats.md 6a


def test_export_file_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = wrn20(1, 10, binary_weights=True)
    path = tmp_path / "w.npz"
    export_weights(net, path, word_bits=16)
    z = np.load(path)
    assert str(z["fingerprint"]) == spec.fingerprint() and int(z["word_bits"]) == 16
    w = net.get_submodule("blocks.3.conv1").weight  # 16 -> 32 channels, fan_in 144
    words = z["blocks.3.conv1.words"]
    assert words.shape == (32, 9) and z["blocks.3.conv1.shape"].tolist() == [32, 16, 3, 3]
    got = np.stack([unpack_bits(row, 144, 16) for row in words])
    assert got.tolist() == (w.detach().permute(0, 2, 3, 1) >= 0).reshape(32, -1).int().tolist()
    assert float(z["blocks.3.conv1.alpha"]) == pytest.approx(math.sqrt(2 / 144))
    assert {k.rsplit(".", 1)[0] for k in z.files if k.endswith(".words")} >= {"stem", "head"}


@pytest.mark.parametrize(("stride", "padding", "k"), [(1, 1, 3), (2, 1, 3), (1, 0, 1)])
def test_conv_codes_equals_integer_convolution(stride: int, padding: int, k: int) -> None:
    g = torch.Generator().manual_seed(k + stride)
    w = torch.randn(5, 6, k, k, generator=g)
    codes = torch.randint(0, 256, (2, 6, 7, 7), generator=g)
    want = F.conv2d(
        codes.double(), torch.where(w >= 0, 1.0, -1.0).double(), stride=stride, padding=padding
    )
    got = conv_codes(w, codes, stride=stride, padding=padding)
    assert got.dtype == np.int64 and got.tolist() == want.long().tolist()


def test_trained_layer_through_the_datapath_equals_pytorch(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    argv = [
        "--train-subset",
        "200",
        "--test-subset",
        "50",
        "--epochs",
        "1",
        "--binary-weights",
        "--export",
        str(path),
        "--out",
        str(tmp_path / "r.json"),
    ]
    assert main(argv) == 0
    check = json.loads((tmp_path / "r.json").read_text())["export"]["check"]
    assert check["equal"] and check["outputs"] == 8 * 16 * 32 * 32
    assert path.exists()


def test_the_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    net = wrn20(1, 10, binary_weights=True)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    assert check_layer(net, images)["equal"]
    real = export.filter_bits

    def one_bit_flipped(w: torch.Tensor) -> np.ndarray:
        bits = real(w).copy()
        bits[0, 0] ^= 1
        return bits

    monkeypatch.setattr(export, "filter_bits", one_bit_flipped)
    result = check_layer(net, images)
    assert not result["equal"] and "DIFFER" in result["summary"]


def test_check_layer_wants_a_bn_relu_conv() -> None:
    with pytest.raises(ValueError, match="'stem' is not a BN-ReLU-conv layer"):
        check_layer(wrn20(1, 10), torch.zeros(1, 3, 32, 32, dtype=torch.uint8), layer="stem")


def test_export_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(b"old")

    def broken(arrays: dict) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(export, "npz_bytes", broken)
    with pytest.raises(OSError):
        export_weights(wrn20(1, 10), path)
    assert path.read_bytes() == b"old"
