"""Datasets for training, as ``uint8`` NCHW image tensors and ``int64`` labels.

- ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images; they ship with the
  package, no download), each pixel scaled from 0..16 to 0..255, enlarged 4x to 32x32 and
  copied to three channels; a fixed 80/20 split (the same whatever ``--seed``).
- ``cifar10`` / ``cifar100``: the official "python version" pickles, read from
  ``data_dir/cifar-10-batches-py`` (``data_batch_1..5``, ``test_batch``) or
  ``data_dir/cifar-100-python`` (``train``, ``test``). :func:`download` fetches the
  official archive (once; its published MD5 is checked) and unpacks it there.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "ARCHIVES",
    "DATASETS",
    "Dataset",
    "DatasetError",
    "augment",
    "batches",
    "download",
    "load",
]

#: Names accepted by :func:`load`.
DATASETS = ("digits", "cifar10", "cifar100")

_CIFAR_HINT = (
    "put the official CIFAR python pickles there, or add --download to fetch them "
    "(checksum checked)"
)

#: The official "python version" archives (Krizhevsky 2009): URL, MD5 published beside
#: them, and the folder they unpack to.
ARCHIVES = {
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
    ),
    "cifar100": (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
    ),
}


class DatasetError(Exception):
    """A dataset is missing or malformed; the message says where and what was expected."""


@dataclass(frozen=True)
class Dataset:
    """Train and test splits: ``uint8`` images ``(N, 3, 32, 32)``, ``int64`` labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    #: Whether horizontal flips are a valid augmentation (not for digits).
    flip: bool

    def subset(self, train: int | None, test: int | None) -> Dataset:
        """The first ``train`` training images and ``test`` test images drawn at random
        (seed 0, kept in their order); all if ``None``.

        The test images are drawn, not taken from the front: a test split stored sorted
        by class (the CIFAR-10 copy in ``../shared/data`` is) would otherwise give a
        subset of only a few classes. The training split is shuffled in every source
        this module reads, so its first images are a fair sample.
        """
        pick = slice(None)
        if test is not None and test < len(self.test_y):
            order = np.random.default_rng(0).permutation(len(self.test_y))[:test]
            pick = torch.from_numpy(np.sort(order))
        return Dataset(
            self.name,
            self.train_x[:train],
            self.train_y[:train],
            self.test_x[pick],
            self.test_y[pick],
            self.num_classes,
            self.flip,
        )


def load(name: str, data_dir: Path | None = None) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`); CIFAR from ``data_dir``."""
    if name == "digits":
        return _digits()
    if name in ("cifar10", "cifar100"):
        if data_dir is None:
            raise DatasetError(f"{name} needs --data-dir: {_CIFAR_HINT}")
        return _cifar(name, Path(data_dir))
    raise DatasetError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")


def download(name: str, data_dir: Path, *, log: bool = True) -> Path:
    """Fetch and unpack ``name``'s official archive into ``data_dir`` unless its folder is
    already there; returns the folder. The archive's MD5 is checked before anything is
    unpacked, and the folder appears whole (unpacked beside it, then renamed).

    Raises
    ------
    DatasetError
        Offline, a failed transfer, a wrong checksum or a bad archive; nothing is left
        behind but the folder ``data_dir`` itself.
    """
    if name not in ARCHIVES:
        raise DatasetError(f"--download is for {', '.join(ARCHIVES)}, not {name!r}")
    url, md5, folder = ARCHIVES[name]
    root = Path(data_dir) / folder
    if root.is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    part = root.parent / (Path(url).name + ".part")
    staging = root.parent / (folder + ".unpacking")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=30) as r, part.open("wb") as f:
            total, done, shown = int(r.headers.get("Content-Length") or 0), 0, 0.0
            while chunk := r.read(1 << 20):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if log and time.monotonic() - shown > 5:
                    shown = time.monotonic()
                    of = f" of {total / 2**20:,.0f}" if total else ""
                    print(f"{name}: {done / 2**20:,.0f}{of} MiB from {url}", file=sys.stderr)
        if digest.hexdigest() != md5:
            raise DatasetError(
                f"{url}: MD5 {digest.hexdigest()} is not the published {md5}; try again"
            )
        with tarfile.open(part) as tar:
            tar.extractall(staging, filter="data")
        (staging / folder).rename(root)
    except (urllib.error.URLError, OSError, tarfile.TarError) as e:
        reason = getattr(e, "reason", None) or e
        raise DatasetError(
            f"cannot download {name} from {url} ({reason}); offline? put the official "
            f"python pickles in {root}"
        ) from None
    finally:
        part.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    if log:
        print(f"{name}: unpacked to {root}", file=sys.stderr)
    return root


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    img = np.round(d.images * (255 / 16)).astype(np.uint8)  # (N, 8, 8), 0..16 -> 0..255
    img = img.repeat(4, axis=1).repeat(4, axis=2)  # nearest-neighbour 8x8 -> 32x32
    x = torch.from_numpy(np.ascontiguousarray(np.repeat(img[:, None], 3, axis=1)))
    y = torch.from_numpy(d.target.astype(np.int64))
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    x, y = x[order], y[order]
    cut = len(y) * 4 // 5
    return Dataset("digits", x[:cut], y[:cut], x[cut:], y[cut:], 10, flip=False)


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path} is missing: {_CIFAR_HINT}")
    try:
        with path.open("rb") as f:
            doc = pickle.load(f, encoding="bytes")
    except Exception as e:
        raise DatasetError(f"{path} is not a CIFAR python pickle ({e})") from None
    if not isinstance(doc, dict) or b"data" not in doc:
        raise DatasetError(f"{path} is not a CIFAR python pickle (no b'data' entry)")
    return doc


def _split(paths: list[Path], label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for p in paths:
        doc = _unpickle(p)
        data = np.asarray(doc[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or label_key not in doc:
            raise DatasetError(f"{p}: expected b'data' of shape (N, 3072) and {label_key!r} labels")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(doc[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def _cifar(name: str, data_dir: Path) -> Dataset:
    if name == "cifar10":
        root = data_dir / "cifar-10-batches-py"
        train = [root / f"data_batch_{i}" for i in range(1, 6)]
        test, key, classes = [root / "test_batch"], b"labels", 10
    else:
        root = data_dir / "cifar-100-python"
        train, test, key, classes = [root / "train"], [root / "test"], b"fine_labels", 100
    if not root.is_dir():
        raise DatasetError(f"{name}: no folder {root}: {_CIFAR_HINT}")
    train_x, train_y = _split(train, key)
    test_x, test_y = _split(test, key)
    return Dataset(name, train_x, train_y, test_x, test_y, classes, flip=True)


def augment(
    x: torch.Tensor, generator: torch.Generator, *, flip: bool, pad: int = 4, cutout: int = 0
) -> torch.Tensor:
    """Random crops (``pad`` zero pixels each side), horizontal flips when ``flip``, and
    a ``cutout`` x ``cutout`` zeroed square when ``cutout > 0``; ``uint8`` in and out."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).tolist()
    out = torch.stack(
        [padded[i, :, a : a + h, b : b + w] for i, (a, b) in enumerate(zip(dy, dx, strict=True))]
    )
    if flip:
        flips = torch.rand(n, generator=generator) < 0.5
        out[flips] = out[flips].flip(3)
    if cutout:
        y0 = torch.randint(0, h, (n, 1, 1), generator=generator) - cutout // 2
        x0 = torch.randint(0, w, (n, 1, 1), generator=generator) - cutout // 2
        rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
        hole = (rows >= y0) & (rows < y0 + cutout) & (cols >= x0) & (cols < x0 + cutout)
        out = out.masked_fill(hole.unsqueeze(1), 0)
    return out


def batches(
    x: torch.Tensor, y: torch.Tensor, batch: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` batches, shuffled with ``generator`` when given. The last
    batch may be smaller."""
    order = torch.randperm(len(y), generator=generator) if generator is not None else None
    for start in range(0, len(y), batch):
        idx = order[start : start + batch] if order is not None else slice(start, start + batch)
        yield x[idx], y[idx]
