"""The integer network format (spec.network, model.intnet), its reference (model.infer)
and its maker (model.deploy): the rounding rule against docs/formats.md's worked
example, the stated worst cases reached and never wrapped, float-vs-integer agreement
on a trained network, file round trips and refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from golden.network import digits_8x8, train_float
from model.deploy import _fixed, convert
from model.infer import run
from model.intnet import IntNetwork, Requant, load
from model.nn.wrn import WideResNet
from spec import IntNetSpec, requantize

# --- the rule, from docs/formats.md section 6c's worked example ------------------------


def test_worked_example_of_the_docs() -> None:
    assert requantize(1000, 20972, -1835008, 19, 0, 255) == 36
    assert requantize(-1000, 20972, -1835008, 19, 0, 255) == 0
    r = _fixed(np.array([0.04]), np.array([-3.5]), 16)
    assert (int(r.mult[0]), int(r.add[0]), r.shift) == (20972, -1835008, 19)
    assert int(r.apply(np.array([1000]), 255)[0]) == 36


@pytest.mark.parametrize(
    ("x", "mult", "add", "shift", "want"),
    [(5, 1, 0, 1, 2), (5, 1, 1, 1, 3), (-5, 1, 1, 1, -2), (-5, 1, 0, 1, -3), (7, -3, 0, 2, -6)],
)
def test_floor_division_rounds_toward_minus_infinity(
    x: int, mult: int, add: int, shift: int, want: int
) -> None:
    """floor((x*M + C) / 2**s): 5/2 -> 2, (5+1)/2 -> 3, (-5+1)/2 -> -2, -5/2 -> -3,
    -21/4 -> -6 (not -5: floor, not truncation)."""
    assert requantize(x, mult, add, shift, None, None) == want
    r = Requant(np.array([mult]), np.array([add]), shift)
    assert int(r.apply(np.array([x]))[0]) == want


# --- widths: an adversarial network reaches each stated bound ---------------------------


def all_ones_network(act_bits: int = 8, stream_bits: int = 32) -> IntNetwork:
    """WRN-8-1 on 16x16 images whose weights are all +1 and whose rules put every code
    at its maximum: every convolution's centre windows reach its bound."""
    s = IntNetSpec(width=1, blocks=1, num_classes=10, image_size=16, act_bits=act_bits,
                   stream_bits=stream_bits)  # fmt: skip
    q = (1 << act_bits) - 1
    bits = {c.name: np.ones((c.cout, c.fan_in), np.uint8) for c in s.convs()}
    one = lambda n, add=0: Requant(np.ones(n, np.int64), np.full(n, add, np.int64), 0)  # noqa: E731
    full = lambda n: Requant(np.zeros(n, np.int64), np.full(n, q, np.int64), 0)  # noqa: E731
    requant = {"stem.in": one(3), "head.in": full(64), "logits": one(10)}
    for conv in s.convs()[1:-1]:
        requant[f"{conv.name}.in"] = full(conv.cin)
    for name in s.block_names():
        requant[f"{name}.add"] = one(1)
    return IntNetwork(s, bits, requant, 255, np.zeros(16, np.int64))


def test_an_all_ones_network_reaches_every_bound_and_never_wraps() -> None:
    net = all_ones_network()
    worst = net.check()
    images = np.full((2, 3, 16, 16), 255, np.uint8)
    logits, t = run(net, images, trace=True)
    for conv in net.spec.convs():
        reached = int(t[f"{conv.name}.acc"].max())
        assert reached == conv.acc_bound == worst[f"{conv.name}.acc"], conv.name
    stream = max(int(np.abs(t[f"{b}.out"]).max()) for b in net.spec.block_names())
    assert 0 < stream <= worst["stream"] < 1 << 31
    assert int(t["head.sum"].max()) <= worst["head.sum"]
    assert (logits == t["head.sum"]).all() and int(logits.max()) <= worst["logits"]
    # the stem's pixels and the stream agree with a hand count: 27 * 255 in the centre
    assert int(t["stem.out"][0, 8, 8, 0]) == 27 * 255


def test_a_stream_that_could_overflow_its_width_is_refused() -> None:
    net = all_ones_network(stream_bits=16)
    with pytest.raises(ValueError, match=r"^the stream can reach \d+, beyond 16-bit signed"):
        net.check()


# --- a trained network: float against integer ----------------------------------------------


@pytest.fixture(scope="module")
def trained() -> tuple[WideResNet, SimpleNamespace]:
    """WRN-8-1 with binary weights, trained 6 epochs on 8x8 digits (seconds): the golden
    network's recipe, shortened."""
    train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in digits_8x8())
    data = SimpleNamespace(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
    return train_float(epochs=6), data


@pytest.mark.parametrize(("act_bits", "agree"), [(8, 98.0), (4, 90.0)])
def test_integer_network_agrees_with_the_float_one(trained, act_bits: int, agree: float) -> None:
    net, data = trained
    int_net = convert(net, data.train_x[:256], act_bits=act_bits)
    with torch.no_grad():
        want = net(data.test_x).numpy()
    got = run(int_net, data.test_x.numpy())
    labels = data.test_y.numpy()
    float_acc = np.mean(want.argmax(1) == labels)
    assert float_acc > 0.8  # it learned something: agreement means something
    assert np.mean(got.argmax(1) == want.argmax(1)) * 100 >= agree
    if act_bits == 8:  # the logits themselves, in units of 2**-8, to about 1 %
        scale = np.abs(want).max()
        assert np.abs(got / 256 - want).max() < 0.05 * scale


def test_save_and_load_round_trip(trained, tmp_path: Path) -> None:
    net, data = trained
    int_net = convert(net, data.train_x[:64], act_bits=4, meta={"note": "test"})
    path = tmp_path / "net.npz"
    int_net.save(path)
    back = load(path)
    assert back.spec == int_net.spec and back.zero_code == int_net.zero_code
    assert (
        back.meta["note"] == "test" and back.meta["spec_fingerprint"] == int_net.spec.fingerprint()
    )
    images = data.test_x[:20].numpy()
    assert (run(back, images) == run(int_net, images)).all()
    assert int_net.weight_bytes() == sum(
        c.cout * -(-c.fan_in // 32) * 4 for c in int_net.spec.convs()
    )


def test_load_refuses_what_is_not_an_integer_network(trained, tmp_path: Path) -> None:
    net, data = trained
    good = tmp_path / "net.npz"
    convert(net, data.train_x[:64]).save(good)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz is not an integer network file"):
        load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "something"})))
    with pytest.raises(ValueError, match=r"no 'sbq-intnet' tag"):
        load(other)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["head.in.mult"] = arrays["head.in.mult"] * 100_000  # beyond 16-bit multipliers
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"head\.in multipliers must be below 32768"):
        load(bad)


def test_infer_refuses_images_of_another_shape(trained) -> None:
    net, data = trained
    int_net = convert(net, data.train_x[:64])
    with pytest.raises(ValueError, match=r"^images must be uint8 of shape \(N, 1, 8, 8\)"):
        run(int_net, data.test_x.numpy().astype(np.float32))


# --- the command line ---------------------------------------------------------------------


def checkpoint(path: Path, *, binary: bool = True, width: int = 1, state_width: int = 1) -> Path:
    """A model.train-style checkpoint of an untrained WRN-20 on digits (100 test images)."""
    from model.nn.wrn import wrn20

    torch.manual_seed(0)
    net = wrn20(state_width, 10, binary_weights=binary)
    run_args = {"dataset": "digits", "width": width, "binary_weights": binary,
                "train_subset": None, "test_subset": 100}  # fmt: skip
    torch.save({"run": run_args, "net": net.state_dict(), "opt": {}, "epoch": 1}, path)
    return path


def test_deploy_writes_the_network_and_reports_accuracy(tmp_path: Path, capsys) -> None:
    from model.deploy import main

    out, report = tmp_path / "net.npz", tmp_path / "r.json"
    args = [str(checkpoint(tmp_path / "c.pt")), "--out", str(out), "--act-bits", "4"]
    assert main([*args, "--calibration-images", "64", "--report", str(report)]) == 0
    printed = capsys.readouterr()
    assert "on 100 digits test images" in printed.out and "calibrating 4-bit" in printed.err
    net = load(out)
    assert net.spec.act_bits == 4 and net.meta["calibration_images"] == 64
    assert (
        net.meta["source"]["sha256"]
        == __import__("hashlib").sha256((tmp_path / "c.pt").read_bytes()).hexdigest()
    )
    figures = json.loads(report.read_text())
    assert figures["test_images"] == 100 and 0 <= figures["top1_agreement"] <= 100


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: checkpoint(p, binary=False), r"trained without --binary-weights"),
        (lambda p: checkpoint(p, width=2), r"does not hold a WRN-20 of its run"),
    ],
    ids=["not-binary", "wrong-shape"],
)
def test_deploy_refuses_checkpoints_it_cannot_use(tmp_path: Path, capsys, make, message) -> None:
    from model.deploy import main

    out = tmp_path / "net.npz"
    assert main([str(make(tmp_path / "c.pt")), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err.strip().splitlines()[-1]) and "Traceback" not in err
    assert not out.exists()


# --- the golden case, against a plain re-reading of the rules --------------------------------


def test_golden_case_follows_the_rules_written_out() -> None:
    """The committed golden case of golden/network_wrn8_1_digits.npz, recomputed for one
    image by loops over the docs' rules (spec.requantize, windows, the pool sum): the
    stored codes, sums and logits are what the format says, not only what model.infer
    computes."""
    import golden
    from golden.network import NETWORK

    case = {c.name: c for c in golden.cases("intnet")}["wrn8_1_digits"]
    net = load(NETWORK)
    a = case.arrays
    assert (run(net, a["images"]) == a["logits"]).all()
    s, rq = net.spec, net.requant
    convs = {c.name: c for c in s.convs()}
    image = 1  # one test image, NHWC below

    def rule(x: int, name: str, c: int, hi: int | None) -> int:
        r = rq[name]
        return requantize(int(x), int(r.mult[c]), int(r.add[c]), r.shift, 0 if hi else None, hi)

    def per_channel(v: np.ndarray, name: str, hi: int | None = 255) -> np.ndarray:
        out = np.zeros(v.shape, int)
        for idx in np.ndindex(v.shape):
            out[idx] = rule(v[idx], name, idx[-1] if len(rq[name].mult) > 1 else 0, hi)
        return out

    def conv(codes: np.ndarray, name: str, pad: int) -> np.ndarray:
        layer, signs = convs[name], 2 * net.bits[name].astype(int) - 1
        k, st, h = layer.kernel, layer.stride, codes.shape[0]
        out = np.zeros((layer.size_out, layer.size_out, layer.cout), int)
        for oy in range(layer.size_out):
            for ox in range(layer.size_out):
                taps = []
                for ky in range(k):
                    for kx in range(k):
                        y, x = oy * st + ky - k // 2, ox * st + kx - k // 2
                        inside = 0 <= y < h and 0 <= x < h
                        taps += list(codes[y, x]) if inside else [pad] * layer.cin
                out[oy, ox] = signs @ np.array(taps)
        return out

    pix = a["images"][image].transpose(1, 2, 0)
    q = per_channel(pix, "stem.in")
    assert (q == a["stem.codes"][image]).all()
    x = conv(q, "stem", net.zero_code) + net.stem_bias
    assert (x == a["stem.out"][image]).all()
    for k, name in enumerate(s.block_names()):
        a1 = conv(per_channel(x, f"{name}.conv1.in"), f"{name}.conv1", 0)
        a2 = conv(per_channel(a1, f"{name}.conv2.in"), f"{name}.conv2", 0)
        assert (a2 == a[f"{name}.conv2.acc"][image]).all(), name
        if s.is_pool_block(k):
            h = x.shape[0]
            pooled = np.zeros((h // 2, h // 2, a2.shape[-1]), int)
            for oy in range(h // 2):
                for ox in range(h // 2):
                    for y in range(2 * oy - 1, 2 * oy + 2):
                        for xx in range(2 * ox - 1, 2 * ox + 2):
                            if 0 <= y < h and 0 <= xx < h:
                                pooled[oy, ox, : x.shape[-1]] += x[y, xx]
            x = pooled
        x = x + per_channel(a2, f"{name}.add", None)
        assert (x == a[f"{name}.out"][image]).all(), name
    total = conv(per_channel(x, "head.in"), "head", 0).sum(axis=(0, 1))
    logits = [rule(t, "logits", o, None) for o, t in enumerate(total)]
    assert logits == list(a["logits"][image])
    assert net.meta["int_acc"] >= 95 and a["labels"][image] == np.argmax(logits)
