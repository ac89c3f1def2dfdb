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
