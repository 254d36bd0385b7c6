"""Miniatures of the real image data sets, written in their exact official on-disk layouts.

Each writer puts a few random images of one source under ``root`` with the file
names, folders, formats and encodings of the official distribution (see
:mod:`contrastlab.images.datasets`), so the loaders, the folder checks and the
workflow can run without the downloads. The CIFAR pickles are written as Python 2
wrote them (protocol 2, byte strings as ``BINSTRING``, numpy's globals under
``numpy.core``), so they read back exactly as the distributed files do.

Import from tests as ``from images.miniature import write_miniature`` (``tests/``
is on ``sys.path`` under pytest, as for ``hltm``); under ``python -m pytest``
from the repository root ``tests.images.miniature`` works too.

References:
    - [1] https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR "python version").
    - [2] http://ufldl.stanford.edu/housenumbers/ (SVHN format 2).
    - [3] https://cs.stanford.edu/~acoates/stl10/ (STL-10 binary files).
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import scipy.io

CIFAR10_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
STL10_NAMES = (
    "airplane",
    "bird",
    "car",
    "cat",
    "deer",
    "dog",
    "horse",
    "monkey",
    "ship",
    "truck",
)


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes ``bytes`` as Python 2 ``str`` and numpy 1 global names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None) -> None:
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name).replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memoize(obj)


def _dump_py2(obj: object, path: Path) -> None:
    with open(path, "wb") as fh:
        _Py2Pickler(fh, protocol=2).dump(obj)


def _labels(rng: np.random.Generator, n: int, n_classes: int) -> np.ndarray:
    """``n`` labels cycling through all classes (each present once ``n >= n_classes``), shuffled."""
    return rng.permutation(np.arange(n) % n_classes)


def _pixels(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _cifar_batch(
    rng: np.random.Generator, n: int, n_classes: int, label_keys: tuple[bytes, ...], tag: bytes
) -> dict:
    batch = {
        b"batch_label": tag,
        b"data": _pixels(rng, n, 3072),
        b"filenames": [b"img_%05d.png" % i for i in range(n)],
    }
    for key in label_keys:
        # CIFAR-100's coarse labels (20 super-classes) are written beside the fine ones.
        k = n_classes if key != b"coarse_labels" else 20
        batch[key] = [int(v) for v in _labels(rng, n, k)]
    return batch


def write_cifar10(root: Path, n_per_batch: int = 20, seed: int = 0) -> Path:
    """CIFAR-10: ``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``.

    Args:
        root: The data root; created if needed.
        n_per_batch: Images in each of the 5 training batches and in the test batch.
        seed: Seed of the random pixels and labels.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        tag = b"training batch %d of 5" % i
        _dump_py2(_cifar_batch(rng, n_per_batch, 10, (b"labels",), tag), folder / f"data_batch_{i}")
    _dump_py2(
        _cifar_batch(rng, n_per_batch, 10, (b"labels",), b"testing batch 1 of 1"),
        folder / "test_batch",
    )
    meta = {
        b"num_cases_per_batch": n_per_batch,
        b"label_names": [s.encode() for s in CIFAR10_NAMES],
        b"num_vis": 3072,
    }
    _dump_py2(meta, folder / "batches.meta")
    return Path(root)


def write_cifar100(root: Path, n_train: int = 120, n_test: int = 100, seed: int = 0) -> Path:
    """CIFAR-100: ``root/cifar-100-python/{train, test, meta}``.

    Args:
        root: The data root; created if needed.
        n_train: Images in ``train``.
        n_test: Images in ``test``.
        seed: Seed of the random pixels and labels.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    keys = (b"fine_labels", b"coarse_labels")
    _dump_py2(_cifar_batch(rng, n_train, 100, keys, b"training batch 1 of 1"), folder / "train")
    _dump_py2(_cifar_batch(rng, n_test, 100, keys, b"testing batch 1 of 1"), folder / "test")
    meta = {
        b"fine_label_names": [b"fine_%02d" % i for i in range(100)],
        b"coarse_label_names": [b"coarse_%02d" % i for i in range(20)],
    }
    _dump_py2(meta, folder / "meta")
    return Path(root)


def write_svhn(
    root: Path, n_train: int = 30, n_test: int = 20, n_extra: int = 0, seed: int = 0
) -> Path:
    """SVHN format 2: ``root/{train,test}_32x32.mat`` (and ``extra_32x32.mat`` if ``n_extra``).

    ``X`` is uint8 ``(32, 32, 3, N)`` (row, column, channel, image) and ``y``
    uint8 ``(N, 1)`` in 1..10, 10 standing for the digit 0, as in the originals.

    Args:
        root: The data root; created if needed.
        n_train: Images in ``train_32x32.mat``.
        n_test: Images in ``test_32x32.mat``.
        n_extra: Images in ``extra_32x32.mat``; 0 writes no such file.
        seed: Seed of the random pixels and labels.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test), ("extra", n_extra)):
        if split == "extra" and not n:
            continue
        digits = _labels(rng, n, 10)
        y = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(n, 1)
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": _pixels(rng, 32, 32, 3, n), "y": y})
    return root


def write_stl10(
    root: Path, n_train: int = 20, n_test: int = 20, n_unlabeled: int = 10, seed: int = 0
) -> Path:
    """STL-10 binary: ``root/stl10_binary/{train,test}_{X,y}.bin``, ``unlabeled_X.bin``, names.

    Each image is written as 3 planes of 96x96 bytes, each plane column by
    column; each label is one byte in 1..10; ``class_names.txt`` one name a line.

    Args:
        root: The data root; created if needed.
        n_train: Images in the train split.
        n_test: Images in the test split.
        n_unlabeled: Images in ``unlabeled_X.bin``.
        seed: Seed of the random pixels and labels.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)

    def images(n: int) -> bytes:
        natural = _pixels(rng, n, 3, 96, 96)  # (image, channel, row, column)
        return np.transpose(natural, (0, 1, 3, 2)).tobytes()  # columns outermost per plane

    for split, n in (("train", n_train), ("test", n_test)):
        (folder / f"{split}_X.bin").write_bytes(images(n))
        (folder / f"{split}_y.bin").write_bytes(
            (_labels(rng, n, 10) + 1).astype(np.uint8).tobytes()
        )
    (folder / "unlabeled_X.bin").write_bytes(images(n_unlabeled))
    (folder / "class_names.txt").write_text("".join(f"{c}\n" for c in STL10_NAMES))
    return Path(root)


WRITERS = {
    "cifar10": write_cifar10,
    "cifar100": write_cifar100,
    "svhn": write_svhn,
    "stl10": write_stl10,
}


def write_miniature(name: str, root: Path, seed: int = 0, **sizes: int) -> Path:
    """Write the miniature of data set ``name`` under ``root``; ``sizes`` go to its writer.

    Returns:
        ``root``.
    """
    if name not in WRITERS:
        raise ValueError(f"no miniature for {name!r}; known: {', '.join(WRITERS)}")
    return WRITERS[name](Path(root), seed=seed, **sizes)
