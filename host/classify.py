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
run that very network (IDENTIFY's fingerprint), else nothing is sent. ``--layers``
(with ``--check``) then runs the first image whose logits differ (or the first image)
once more, stopping the engine after every layer (RUN_TO) to read its output back
(READ_LAYER), and names each layer that differs from ``model.infer``'s: the first one
is where to look. Over a UART that takes a while: every value is 4 bytes.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spec import LinkSpec
from spec.engine import EngineSpec

from .device import Device
from .link import DeviceError, LinkError

if TYPE_CHECKING:
    from model.intnet import IntNetwork

__all__ = ["classify", "compare_layers", "load_images", "main", "read_layers"]

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


def read_layers(dev: Device, image: np.ndarray, net: IntNetwork) -> dict[str, np.ndarray]:
    """Every layer the engine can stop after (:meth:`spec.engine.EngineSpec.layers`), as
    ``dev`` computes it for ``image`` (C x H x W): ``side x side x channels`` arrays,
    named as :func:`model.infer.run`'s trace names them. The engine stops after each
    layer in turn, is read back and resumed; at the end it runs on to the logits and
    the stop is cleared."""
    from model.intnet import words_layer

    dev.check_network(net.fingerprint())
    engine = EngineSpec(lanes=dev.info.engine_lanes)
    passes, table = engine.passes(net.spec), engine.layers(net.spec)
    out: dict[str, np.ndarray] = {}
    for k, (name, (index, words)) in enumerate(table.items()):
        dev.run_to(index)
        if k == 0:
            dev.send_image(image.transpose(1, 2, 0).tobytes())
        while dev.read_layer(0, 0) is None:  # BUSY until the engine stops
            pass
        values = dev.read_layer(0, words)
        assert values is not None  # a stopped engine is never BUSY
        p = passes[index]
        grid = np.asarray(values, dtype=np.int64).reshape(words, engine.lanes)
        out[name] = words_layer(grid, p.size_out, p.cout)
    dev.run_to(None)
    while dev.read_logits() is None:
        pass
    return out


def compare_layers(dev: Device, image: np.ndarray, net: IntNetwork) -> list[str]:
    """Read every layer of ``image`` back (:func:`read_layers`) and compare it with
    :func:`model.infer.run`'s; returns a line per layer, ``differs`` or ``equal``."""
    from model import infer

    got = read_layers(dev, image, net)
    _, want = infer.run(net, image[None], trace=True)
    lines = []
    for name, values in got.items():
        bad = np.argwhere(values != want[name][0])
        if len(bad):
            y, x, c = bad[0]
            lines.append(f"{name}: differs in {len(bad)} of {values.size} values; first at "
                         f"y={y} x={x} channel {c}: device {values[y, x, c]}, model.infer "
                         f"{want[name][0][y, x, c]}")  # fmt: skip
        else:
            lines.append(f"{name}: equal ({values.size} values)")
    return lines


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
    parser.add_argument("--layers", action="store_true",
                        help="with --check: read back every layer of the first image that "
                             "differs (or of the first image) and compare")  # fmt: skip
    parser.add_argument("--limit", type=int, help="first N images only")
    parser.add_argument("--baud", type=int, default=LinkSpec().baud, help="default 115200")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per answer")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    if args.layers and args.check is None:
        parser.error("--layers compares with model.infer: give --check NET")
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
    layers: list[str] = []
    try:
        with Device.open(args.port, link, timeout=args.timeout) as dev:
            info = dev.identify()
            got, seconds = classify(dev, images, network=net.fingerprint() if net else None)
            if args.layers and net is not None:
                from model import infer

                bad = np.flatnonzero((got != infer.run(net, images)).any(1))
                first = int(bad[0]) if len(bad) else 0
                print(f"reading back every layer of image {first} ...", file=sys.stderr)
                layers = compare_layers(dev, images[first], net)
                layers = [f"image {first}, {line}" for line in layers]
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
        differ = sum("differs" in line for line in layers)
        if layers:
            print("\n".join(layers))
            print(f"{len(layers) - differ}/{len(layers)} layers equal")
        return 1 if len(bad) or differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
