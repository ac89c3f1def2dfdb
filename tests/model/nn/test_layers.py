"""model.nn.layers and wrn: forward equal to plain PyTorch, exact where nothing is
binarized, unbiased where it is, and only bits kept for backward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.memory import measure
from model.nn.layers import BatchNorm, BnReluConv, InputBnConv, PoolShortcut
from model.nn.quant import unpack
from model.nn.wrn import wrn20


def _pair(make, save: str):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    ref = make("fp32")
    test = make(save)
    test.load_state_dict(ref.state_dict())
    return ref.train(), test.train()


LAYERS = {
    "bn_relu_conv": (
        lambda s: BnReluConv(6, 5, 3, 2, save=s),
        lambda: torch.randn(4, 6, 9, 9) * 3 + 1,
    ),
    "bn_relu_conv_binary": (
        lambda s: BnReluConv(6, 5, 3, 1, save=s, binary_weights=True),
        lambda: torch.randn(4, 6, 8, 8),
    ),
    "batch_norm": (lambda s: BatchNorm(5, save=s), lambda: torch.randn(4, 5, 6, 6) - 2),
    "pool_shortcut": (lambda s: PoolShortcut(8, save=s), lambda: torch.randn(3, 4, 10, 10)),
}


@pytest.mark.parametrize("save", ["stoch", "det"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_forward_is_full_precision(name: str, save: str) -> None:
    make, data = LAYERS[name]
    ref, test = _pair(make, save)
    x = data().requires_grad_()
    y_ref, y = ref(x), test(x)
    assert torch.allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    assert y.grad_fn is not None and "Fn" in type(y.grad_fn).__name__
    for (k, a), b in zip(ref.state_dict().items(), test.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), k  # running statistics too


def test_pool_shortcut_gradient_is_exact() -> None:
    ref, test = _pair(lambda s: PoolShortcut(8, save=s), "stoch")
    x = torch.randn(3, 4, 10, 10, requires_grad=True)
    g = torch.randn(3, 8, 5, 5)
    (want,) = torch.autograd.grad(ref(x), x, g)
    (got,) = torch.autograd.grad(test(x), x, g)
    assert torch.allclose(got, want, atol=1e-7)


@pytest.mark.parametrize("binary", [False, True])
def test_input_layer_keeps_the_image_and_is_exact(binary: bool) -> None:
    ref, test = _pair(lambda s: InputBnConv(3, 8, save=s, binary_weights=binary), "stoch")
    image = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    g = torch.randn(4, 8, 8, 8)
    kept: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        y = test(image)
    assert any(t.dtype == torch.uint8 and t.data_ptr() == image.data_ptr() for t in kept)
    assert not any(t.dtype.is_floating_point and t.numel() >= image.numel() for t in kept)
    want = torch.autograd.grad(ref(image), list(ref.parameters()), g)
    got = torch.autograd.grad(y, list(test.parameters()), g)
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_input_must_be_uint8_images() -> None:
    net = wrn20(1, 10)
    with pytest.raises(ValueError, match=r"uint8 image batch of shape \(N, 3, H, W\)"):
        net(torch.rand(2, 3, 32, 32))


def _chain(save: str) -> torch.nn.Module:
    return torch.nn.Sequential(BnReluConv(4, 6, 3, 1, save=save), BnReluConv(6, 5, 3, 2, save=save))


def _mean_error(save: str, draws: int, seed: int) -> float:
    """Relative error of the mean over ``draws`` of the chain's gradient (input and
    weights) against the fp32 gradient."""
    torch.manual_seed(1)
    ref = _chain("fp32")
    x = (torch.randn(8, 4, 8, 8) * 2 + 0.5).requires_grad_()
    g = torch.randn(8, 5, 4, 4)
    params = [x, *ref.parameters()]

    def grad(net: torch.nn.Module) -> torch.Tensor:
        return torch.cat([t.flatten() for t in torch.autograd.grad(net(x), params, g)])

    want = grad(ref)
    net = _chain(save)
    net.load_state_dict(ref.state_dict())
    params = [x, *net.parameters()]
    torch.manual_seed(seed)
    total = sum(grad(net) for _ in range(draws))
    return float((total / draws - want).norm() / want.norm())


def test_stochastic_gradient_is_unbiased() -> None:
    """The mean over draws converges to the fp32 gradient like 1/sqrt(draws)."""
    draws = [4, 16, 64, 256]
    errors = [float(np.mean([_mean_error("stoch", d, s) for s in range(3)])) for d in draws]
    slope = np.polyfit(np.log(draws), np.log(errors), 1)[0]
    assert -0.65 < slope < -0.35, (errors, slope)
    assert errors[-1] < errors[0] / 5, errors


def test_deterministic_gradient_is_biased() -> None:
    few, many = _mean_error("det", 4, 0), _mean_error("det", 64, 0)
    assert many > 0.9 * few  # averaging does not help: the error is bias
    assert many > 3 * _mean_error("stoch", 64, 0)


def test_training_keeps_only_bits_and_small_vectors() -> None:
    torch.manual_seed(0)
    net = wrn20(2, 10, save="stoch").train()
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    params = {p.data_ptr() for p in net.parameters()}
    kept: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        F.cross_entropy(net(images), torch.zeros(6, dtype=torch.long))
    widest = 64 * 2
    for t in kept:
        if t.data_ptr() in params or t.dtype == torch.uint8:
            continue
        assert t.numel() <= max(widest, 6 * 10), (t.dtype, tuple(t.shape))


@pytest.mark.parametrize(("width", "batch"), [(1, 8), (2, 16), (4, 8)])
def test_saved_activation_bytes_shrink_over_25x(width: int, batch: int) -> None:
    fp32 = measure(width, batch, "fp32")
    stoch = measure(width, batch, "stoch")
    assert stoch.weight_bytes > 0 and fp32.weight_bytes > 0
    assert fp32.activation_bytes / stoch.activation_bytes >= 25


def test_eval_mode_is_the_same_network_in_every_mode() -> None:
    torch.manual_seed(0)
    ref = wrn20(1, 10)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    for save in ("stoch", "det"):
        net = wrn20(1, 10, save=save)
        net.load_state_dict(ref.state_dict())
        assert torch.equal(net.eval()(images), ref.eval()(images))


def test_wrn20_k10_has_26_7m_parameters() -> None:
    n = sum(p.numel() for p in wrn20(10, 10).parameters())
    assert math.isclose(n, 26.7e6, rel_tol=0.01), n


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 1, "num_classes": 10, "save": "fp16"}, "save must be one of fp32, stoch, det"),
        ({"width": 0, "num_classes": 10}, "width"),
        ({"width": 1, "num_classes": 1}, "num_classes"),
    ],
)
def test_bad_network_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wrn20(**kwargs)


def _three_level(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Values in {-1, 0, +1}, as many -1 as +1 in every channel: the batch mean is exactly
    0 and every |x_hat| is 0 or the channel's maximum, so each magnitude bit is certain
    (p is 0 or 1) and a bit-saving layer's gradient must equal the exact one."""
    g = torch.Generator().manual_seed(seed)
    per = n * h * w
    base = torch.tensor([1.0, -1.0, 0.0]).repeat(per // 3 + 1)[:per]
    if per % 3 == 1:
        base[-1] = 0.0  # keep the +1 and -1 counts equal
    cols = [base[torch.randperm(per, generator=g)] for _ in range(c)]
    return torch.stack(cols).view(c, n, h, w).transpose(0, 1).contiguous()


EXACT = {
    "bn_relu_conv_stride2": (lambda s: BnReluConv(6, 5, 3, 2, save=s), (4, 6, 9, 9), (4, 5, 5, 5)),
    "bn_relu_conv_binary": (
        lambda s: BnReluConv(6, 5, 3, 1, save=s, binary_weights=True),
        (4, 6, 8, 8),
        (4, 5, 8, 8),
    ),
    "bn_relu_conv_1x1": (lambda s: BnReluConv(8, 3, 1, 1, save=s), (5, 8, 4, 4), (5, 3, 4, 4)),
    "batch_norm": (lambda s: BatchNorm(5, save=s), (4, 5, 6, 6), (4, 5, 6, 6)),
}


def _grads(net: torch.nn.Module, x: torch.Tensor, g: torch.Tensor, amp: bool) -> list:
    x = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        y = net(x)
    return [y, *torch.autograd.grad(y, [x, *net.parameters()], g.to(y.dtype))]


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("save", ["stoch", "det"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_gradient_is_exact_when_the_bits_are(name: str, save: str, amp: bool) -> None:
    """With certain bits, stoch and det keep everything backward needs; so the gradient
    equals plain PyTorch's, in float32 and under bf16 autocast alike."""
    make, xshape, gshape = EXACT[name]
    ref, test = _pair(make, save)
    x = _three_level(*xshape)
    g = torch.randn(gshape, generator=torch.Generator().manual_seed(1))
    want, got = _grads(ref, x, g, amp), _grads(test, x, g, amp)
    tol = {"rtol": 2e-2, "atol": 2e-2} if amp else {"rtol": 1e-4, "atol": 1e-5}
    assert got[0].dtype == want[0].dtype
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and torch.allclose(a.float(), b.float(), **tol)


@pytest.mark.parametrize("save", ["stoch", "det", "det_mse"])
@pytest.mark.parametrize("stride", [1, 2])
def test_residual_block_equals_its_layers(stride: int, save: str) -> None:
    """The fused block (in place, one backward buffer) computes exactly what its two
    layers and shortcut compute one by one, drawing the same random bits."""
    from model.nn.wrn import Block

    torch.manual_seed(0)
    block = Block(4, 8 if stride == 2 else 4, stride, save, False).train()
    leaf = (torch.randn(3, 4, 10, 10) * 2 + 1).requires_grad_()
    g = torch.randn(3, block.conv2.weight.shape[0], 10 // stride, 10 // stride)
    params = [leaf, *block.parameters()]

    def run(fused: bool) -> list[torch.Tensor]:
        torch.manual_seed(5)
        x = leaf * 1  # a non-leaf, as inside a network: the fused block may write into it
        y = block(x) if fused else block.conv2(block.conv1(x)) + block.shortcut(x)
        assert ("ResidualBlockFn" in type(y.grad_fn).__name__) == fused
        return [y.detach().clone(), *torch.autograd.grad(y, params, g)]

    stats = [b.clone() for b in block.buffers()]
    got = run(True)
    for b, s in zip(block.buffers(), stats, strict=True):
        b.copy_(s)
    want = run(False)
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_det_mse_picks_the_least_squared_error_code() -> None:
    """Brute force over the thresholds c*k/64: det_mse keeps the magnitude bits and the
    level L (the mean of the magnitudes coded 1) of the least squared error."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 6, 6) * torch.tensor([1.0, 3.0, 0.5]).view(1, 3, 1, 1)
    x[:, 2] = x[:, 2].exp()  # a skewed channel
    kept: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        BatchNorm(3, save="det_mse").train()(x.requires_grad_())
    sign, bits, level, _ = kept
    got_bits = unpack(bits, x.shape)
    xhat = F.batch_norm(x.detach(), None, None, training=True).abs()
    det_sse = mse_sse = 0.0
    for ch in range(3):
        m = xhat[:, ch].double().flatten()
        c = m.max()
        best = min(
            (float(((m - m[m >= t].mean() * (m >= t)) ** 2).sum()), k)
            for k in range(1, 64)
            if (m >= (t := c * k / 64)).any()
        )
        t = c * best[1] / 64
        assert torch.equal(got_bits[:, ch].flatten(), m >= t)
        assert math.isclose(float(level[ch]), float(m[m >= t].mean()), rel_tol=1e-5)
        det_sse += float(((m - c * (m >= c / 2)) ** 2).sum())
        est = float(level[ch]) * got_bits[:, ch].flatten().double()
        mse_sse += float(((m - est) ** 2).sum())
        assert math.isclose(float(((m - est) ** 2).sum()), best[0], rel_tol=1e-5)
    assert unpack(sign, x.shape).equal(x > x.mean((0, 2, 3), keepdim=True))
    assert mse_sse < 0.7 * det_sse  # det (threshold c/2, level c) is far from the best code
