"""``python -m host.classify``: class labels computed by the board's inference engine.

Sends each image to a device built with ``python -m hw.build --network net.npz``
(LOAD_IMAGE frames, then READ_LOGITS until the engine has them), prints a progress
line, the accuracy against the labels, the images per second through the link and
the engine's own images per second at 100 MHz (its cycles per image, from IDENTIFY).

``--images`` is a ``.npz`` with ``images`` (``uint8``, N x C x H x W) and optionally
``labels``, a CIFAR-10 python batch file (``data/cifar-10-batches-py/test_batch``),
or ``digits``: the test split of ``python -m model.train --dataset digits``.
``--check net.npz`` also computes every logit with :func:`model.infer.run` and
reports each image whose logits differ (exit status 1 if any does); the device must
run that very network (IDENTIFY's fingerprint), else nothing is sent.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from spec import LinkSpec

from .device import Device
from .link import DeviceError, LinkError

__all__ = ["classify", "load_images", "main"]

#: The clock the engine's images/s are quoted at: the Arty A7's.
CLOCK_MHZ = 100.0


def load_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (``uint8`` N x C x H x W) and labels (or None) from ``path``; the name
    ``digits`` is the test split of ``python -m model.train --dataset digits`` (3 x 32 x
    32, the network that command trains takes them).

    Raises
    ------
    ValueError
        The file cannot be read or holds no images of that shape.
    """
    if str(path) == "digits":
        from model.nn.data import load

        test = load("digits")
        return test.test_x.numpy(), test.test_y.numpy()
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                images = z["images"]
                labels = z["labels"] if "labels" in z.files else None
        else:
            with path.open("rb") as f:
                doc = pickle.load(f, encoding="bytes")  # a CIFAR batch is a pickle
            images = np.asarray(doc[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(doc[b"labels"])
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError, TypeError) as e:
        raise ValueError(f"{path}: not an .npz of images nor a CIFAR-10 batch ({e})") from None
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{path}: images must be uint8 N x C x H x W, not {images.dtype} "
                         f"{images.shape}")  # fmt: skip
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{path}: {len(labels)} labels for {len(images)} images")
    return images, labels


def classify(
    dev: Device, images: np.ndarray, *, network: str | None = None, progress: bool = True
) -> tuple[np.ndarray, float]:
    """Logits of ``images`` (N x C x H x W) from ``dev``, and the seconds it took."""
    start = time.perf_counter()
    out = []
    payloads = (image.transpose(1, 2, 0).tobytes() for image in images)
    for k, logits in enumerate(dev.classify(payloads, network=network), start=1):
        out.append(logits)
        if progress:
            rate = k / max(time.perf_counter() - start, 1e-9)
            bar = "#" * (30 * k // len(images))
            print(f"\r[{bar:<30}] {k}/{len(images)} images, {rate:.2f}/s", end="",
                  file=sys.stderr, flush=True)  # fmt: skip
    if progress:
        print(file=sys.stderr)
    return np.asarray(out, dtype=np.int64), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m host.classify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", required=True, help="serial port (or sim.board's pty)")
    parser.add_argument("--images", type=Path, required=True,
                        help=".npz, CIFAR-10 batch, or digits")  # fmt: skip
    parser.add_argument("--check", type=Path, metavar="NET", help="compare with model.infer")
    parser.add_argument("--limit", type=int, help="first N images only")
    parser.add_argument("--baud", type=int, default=LinkSpec().baud, help="default 115200")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per answer")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    try:
        images, labels = load_images(args.images)
        link = LinkSpec(baud=args.baud)
        net = None
        if args.check is not None:
            from model.intnet import load

            net = load(args.check)
    except ValueError as e:
        parser.error(str(e))
    images = images[: args.limit]
    labels = None if labels is None else labels[: args.limit]
    try:
        with Device.open(args.port, link, timeout=args.timeout) as dev:
            info = dev.identify()
            got, seconds = classify(dev, images, network=net.fingerprint() if net else None)
    except (LinkError, DeviceError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(images)} images in {seconds:.1f} s: {len(images) / seconds:.2f} images/s "
          f"through the link")  # fmt: skip
    if info.engine_cycles:
        rate = CLOCK_MHZ * 1e6 / info.engine_cycles
        print(f"engine: {info.engine_cycles:,} cycles per image = {rate:,.0f} images/s at "
              f"{CLOCK_MHZ:g} MHz")  # fmt: skip
    if labels is not None:
        accuracy = 100 * float(np.mean(got.argmax(1) == labels))
        print(f"accuracy: {accuracy:.2f} % ({len(images)} images)")
    if net is not None:
        from model import infer

        want = infer.run(net, images)
        bad = np.flatnonzero((got != want).any(1))
        for k in bad[:10]:
            print(f"image {k}: device {got[k].tolist()}, model.infer {want[k].tolist()}")
        print(f"{len(images) - len(bad)}/{len(images)} logits equal")
        return 1 if len(bad) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
