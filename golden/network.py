"""The small trained network behind the ``intnet`` golden cases.

``golden/network_wrn8_1_digits.npz`` is an integer network (``docs/formats.md``,
"Integer network"): WRN-8-1 with binary weights, trained on scikit-learn's 8x8 digits
at their own resolution (one channel, pixels scaled from 0..16 to 0..255) and made
integer at 8-bit activations by :func:`model.deploy.convert`. It is committed, because
training is slow next to the rest of the generator and float training is not
bit-reproducible across machines; ``python -m golden --retrain-network`` remakes it
(about a minute) from the recipe in :func:`train_network`, and the golden cases are
the integer reference's answers for it, which are exact.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from fileio import npz_bytes, write_atomic
from model.intnet import IntNetwork

__all__ = [
    "CIFAR_IMAGES",
    "CIFAR_NETWORK",
    "DIGITS_IMAGES",
    "NETWORK",
    "digits_8x8",
    "train_float",
    "train_network",
]

_HERE = Path(__file__).resolve().parent
#: The committed networks and stimuli live beside the cases, outside ``<block>/``, so the
#: generator never takes them for stale cases.
NETWORK = _HERE / "network_wrn8_1_digits.npz"
#: WRN-20-1, binary weights, trained 10 epochs on the first 10,000 CIFAR-10 training
#: images of the copy in ``../shared/data`` (``python -m model.train --dataset cifar10
#: --width 1 --epochs 10 --train-subset 10000 --test-subset 2000 --binary-weights
#: --save stoch --seed 0 --checkpoint run.pt``, about 40 minutes on 2 cores), made
#: integer at 8 bits by ``python -m model.deploy run.pt --out ...``: the network the
#: engine is checked against at full size.
CIFAR_NETWORK = _HERE / "network_wrn20_1_cifar10.npz"
#: Ten CIFAR-10 test images of that copy, the first of each class
#: (:func:`write_cifar_images`), their labels and test indices.
CIFAR_IMAGES = _HERE / "cifar10_test_images.npz"
#: The first ten test images of :func:`digits_8x8` and their labels (``images``,
#: ``labels``): what ``python -m host.classify`` sends the digits network in the README.
DIGITS_IMAGES = _HERE / "digits_test_images.npz"


def digits_8x8() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``uint8`` ``(N, 1, 8, 8)`` images: train and test
    images and labels, the same 80/20 split as :mod:`model.nn.data` (seed 0)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255 / 16)).astype(np.uint8)[:, None]
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    cut = len(labels) * 4 // 5
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def train_float(*, epochs: int = 30, seed: int = 0) -> Any:
    """WRN-8-1 with binary weights trained on :func:`digits_8x8` (plain SGD with
    Nesterov momentum, batch 64, cosine learning rate from 0.1), in eval mode; prints
    each epoch's last loss."""
    import torch

    from model.nn.wrn import WideResNet

    train_x, train_y = (torch.from_numpy(a) for a in digits_8x8()[:2])
    torch.manual_seed(seed)
    net = WideResNet(width=1, num_classes=10, blocks=1, in_channels=1, binary_weights=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    steps = epochs * -(-len(train_y) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_y), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            loss = torch.nn.functional.cross_entropy(net(train_x[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}", file=sys.stderr)
    return net.eval()


def train_network(path: Path = NETWORK, *, epochs: int = 30, seed: int = 0) -> IntNetwork:
    """Train WRN-8-1 (:func:`train_float`), make it integer at 8 bits (256 calibration
    images) and write it to ``path``; prints float and integer accuracy."""
    import torch

    from model.deploy import accuracy, convert
    from model.infer import run

    train_x, _, test_x, test_y = (torch.from_numpy(a) for a in digits_8x8())
    net = train_float(epochs=epochs, seed=seed)
    meta = {"recipe": "golden.network.train_network", "epochs": epochs, "seed": seed}
    int_net = convert(net, train_x[:256], act_bits=8, meta=meta)
    with torch.no_grad():
        float_acc = accuracy(net(test_x).numpy(), test_y.numpy())
    int_acc = accuracy(run(int_net, test_x.numpy()), test_y.numpy())
    int_net.meta.update(float_acc=round(float_acc, 2), int_acc=round(int_acc, 2))
    int_net.save(path)
    print(f"wrote {path}: float {float_acc:.2f} %, integer {int_acc:.2f} %", file=sys.stderr)
    return int_net


def write_cifar_images(batch: Path, path: Path = CIFAR_IMAGES) -> None:
    """Write the first test image of every class of the CIFAR-10 batch file ``batch``
    (``cifar-10-batches-py/test_batch``) to ``path``: ``images`` (N x 3 x 32 x 32
    ``uint8``), ``labels`` and ``test_index``, in class order.

    Raises
    ------
    ValueError
        ``batch`` is not a CIFAR-10 batch file.
    """
    from host.classify import load_images

    images, labels = load_images(batch)
    if labels is None:
        raise ValueError(f"{batch}: no labels: expected a CIFAR-10 test batch file")
    index = np.array([int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)])
    arrays = {"images": images[index], "labels": labels[index], "test_index": index}
    write_atomic(path, npz_bytes(arrays))
