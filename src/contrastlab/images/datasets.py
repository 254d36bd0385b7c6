"""Real image data sets read from a user's folder in their official on-disk formats.

CIFAR-10, CIFAR-100, SVHN and STL-10 as their authors distribute them, unpacked
under one root folder in the layout torchvision's dataset classes read
(``<root>/<base folder>/<files>``), so a folder already used with torchvision
works as it is. The formats are read here, not through torchvision, because
torchvision cannot be imported beside the project's pinned CPU build of torch
(its compiled operators fail to register). Nothing is downloaded: a missing
file stops with a message that names it, the files expected, where to get them
and how to unpack them.

Every source is returned the same way: images ``uint8`` of shape
``(N, 3, side, side)`` (channels R, G, B; rows, then columns), C-contiguous, and
labels ``int64`` of shape ``(N,)`` in ``0..n_classes-1`` (``-1`` for the
unlabeled split of STL-10).

The sources, their files under the root and their on-disk formats:

- ``cifar10``: ``cifar-10-batches-py/`` with ``data_batch_1`` to ``data_batch_5``,
  ``test_batch`` and ``batches.meta``. Python 2 pickles of dicts: ``data`` uint8
  ``(N, 3072)``, each row the R, G and B planes of 32x32 pixels, row-major;
  ``labels`` a list of ints; the meta file's ``label_names``.
- ``cifar100``: ``cifar-100-python/`` with ``train``, ``test`` and ``meta``. As
  CIFAR-10, the labels in ``fine_labels`` (100 classes, used here) beside
  ``coarse_labels`` (20); the meta file's ``fine_label_names``.
- ``svhn``: ``train_32x32.mat``, ``test_32x32.mat`` and (optional split)
  ``extra_32x32.mat`` in the root itself. MATLAB v5 files: ``X`` uint8
  ``(32, 32, 3, N)`` indexed (row, column, channel, image); ``y`` ``(N, 1)`` in
  1..10, where 10 is the digit 0.
- ``stl10``: ``stl10_binary/`` with ``train_X.bin``, ``train_y.bin``,
  ``test_X.bin``, ``test_y.bin``, ``unlabeled_X.bin`` and ``class_names.txt``.
  Raw uint8: each image 3 planes of 96x96 pixels, each plane stored column by
  column; ``*_y.bin`` one byte per image in 1..10; the unlabeled split
  (100000 images) has no labels.

Only the standard library is imported at module level (numpy, scipy and pickle
inside the functions), so configuration code can read :data:`DATASETS` cheaply.
The pickles are read with an unpickler that only admits the numpy array and
dtype constructors, so a tampered file cannot run code.

References:
    - [1] Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images,
      https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 and CIFAR-100, the
      python version).
    - [2] Netzer et al. 2011, Reading Digits in Natural Images with Unsupervised
      Feature Learning, http://ufldl.stanford.edu/housenumbers/ (SVHN, format 2:
      cropped 32x32 digits).
    - [3] Coates, Lee & Ng 2011, An Analysis of Single-Layer Networks in
      Unsupervised Feature Learning, https://cs.stanford.edu/~acoates/stl10/
      (STL-10, binary version).
    - [4] torchvision.datasets CIFAR10, CIFAR100, SVHN and STL10,
      https://github.com/pytorch/vision/tree/main/torchvision/datasets (the
      folder layout, and the MD5 sums of the distributed files).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from contrastlab.errors import ContrastlabError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DATASETS",
    "DatasetFileError",
    "DatasetFolderError",
    "DatasetInfo",
    "check_root",
    "checksum",
    "class_names",
    "load",
    "load_splits",
    "required_files",
    "verify",
]


class DatasetFolderError(ContrastlabError, FileNotFoundError):
    """The data root lacks files of a data set; the message says which and how to get them."""


class DatasetFileError(ContrastlabError, ValueError):
    """A data set file is there but cannot be read (truncated, garbage, altered)."""


@dataclass(frozen=True)
class DatasetInfo:
    """Where a data set lives under the data root and what it holds.

    Attributes:
        name: Key in :data:`DATASETS`, e.g. ``"cifar10"``.
        side: Image height and width in pixels.
        channels: Colour channels of every image (3, RGB).
        n_classes: Number of classes of the labels.
        folder: Sub-folder of the root that holds the files (``""``: the root itself).
        splits: Split name -> files of that split, relative to ``folder``.
        meta_files: Other files of the distribution that must be there (class names).
        url: Where to download the archive (or, with no ``archive``, the folder
            that holds each file).
        size_note: How large the download is.
        title: The data set's usual name, for messages.
        archive: File name of the downloaded archive, unpacked in the root with
            ``tar xzf``; ``""`` when the files are downloaded one by one.
        md5: Published MD5 sum of each distributed file (relative to ``folder``),
            as torchvision checks them; see :func:`verify`.
        sizes: Images per split in the official distribution.
    """

    name: str
    side: int
    channels: int
    n_classes: int
    folder: str
    splits: dict[str, tuple[str, ...]]
    meta_files: tuple[str, ...]
    url: str
    size_note: str
    title: str = ""
    archive: str = ""
    md5: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(
        name="cifar10",
        sizes={"train": 50000, "test": 10000},
        side=32,
        channels=3,
        n_classes=10,
        folder="cifar-10-batches-py",
        splits={
            "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
            "test": ("test_batch",),
        },
        meta_files=("batches.meta",),
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        size_note="163 MB",
        title="CIFAR-10",
        archive="cifar-10-python.tar.gz",
        md5={
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        },
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        sizes={"train": 50000, "test": 10000},
        side=32,
        channels=3,
        n_classes=100,
        folder="cifar-100-python",
        splits={"train": ("train",), "test": ("test",)},
        meta_files=("meta",),
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        size_note="161 MB",
        title="CIFAR-100",
        archive="cifar-100-python.tar.gz",
        md5={
            "train": "16019d7e3df5f24257cddd939b257f8d",
            "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
            "meta": "7973b15100ade9c7d40fb424638fde48",
        },
    ),
    "svhn": DatasetInfo(
        name="svhn",
        sizes={"train": 73257, "test": 26032, "extra": 531131},
        side=32,
        channels=3,
        n_classes=10,
        folder="",
        splits={
            "train": ("train_32x32.mat",),
            "test": ("test_32x32.mat",),
            "extra": ("extra_32x32.mat",),
        },
        meta_files=(),
        url="http://ufldl.stanford.edu/housenumbers/",
        size_note="train 182 MB, test 64 MB, extra 1.3 GB",
        title="SVHN",
        archive="",
        md5={
            "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
            "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
            "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7",
        },
    ),
    "stl10": DatasetInfo(
        name="stl10",
        sizes={"train": 5000, "test": 8000, "unlabeled": 100000},
        side=96,
        channels=3,
        n_classes=10,
        folder="stl10_binary",
        splits={
            "train": ("train_X.bin", "train_y.bin"),
            "test": ("test_X.bin", "test_y.bin"),
            "unlabeled": ("unlabeled_X.bin",),
        },
        meta_files=("class_names.txt",),
        url="https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
        size_note="2.5 GB",
        title="STL-10",
        archive="stl10_binary.tar.gz",
        md5={
            "train_X.bin": "918c2871b30a85fa023e0c44e0bee87f",
            "train_y.bin": "5a34089d4802c674881badbb80307741",
            "test_X.bin": "7f263ba9f9e0b06b93213547f721ac82",
            "test_y.bin": "36f9794fa4beb8a2c72628de14fa638e",
            "unlabeled_X.bin": "5242ba1fed5e4be9e1e742405eb56ca4",
        },
    ),
}

_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- lookup


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def _check_splits(info: DatasetInfo, splits: Sequence[str]) -> tuple[str, ...]:
    if isinstance(splits, str):
        splits = (splits,)
    for split in splits:
        if split not in info.splits:
            raise ValueError(
                f"{info.title} ({info.name}) has no split {split!r}; "
                f"its splits: {', '.join(info.splits)}"
            )
    return tuple(splits)


def _relative(info: DatasetInfo, file: str) -> PurePosixPath:
    return PurePosixPath(info.folder, file) if info.folder else PurePosixPath(file)


def required_files(name: str, splits: Sequence[str] = ("train", "test")) -> list[PurePosixPath]:
    """The files, relative to the data root, that ``splits`` of data set ``name`` need.

    Args:
        name: A key of :data:`DATASETS`.
        splits: Split names of that data set (a single string is one split).

    Returns:
        The files of each split in order, then the meta files, without repeats.

    Raises:
        ValueError: Unknown data set or split.
    """
    info = _info(name)
    files: list[PurePosixPath] = []
    for split in _check_splits(info, splits):
        files += [_relative(info, f) for f in info.splits[split]]
    files += [_relative(info, f) for f in info.meta_files]
    return list(dict.fromkeys(files))


# ----------------------------------------------------------------------------- errors


def _expected(info: DatasetInfo, files: Sequence[PurePosixPath]) -> str:
    names = ", ".join(p.name for p in files)
    return f"{info.folder}/{{{names}}}" if info.folder else f"{{{names}}}"


def _how_to_get(
    info: DatasetInfo, root: Path, files: Sequence[PurePosixPath], again: str = ""
) -> str:
    if info.archive:
        return (
            f"download {info.url} ({info.size_note}){again} and unpack it in {root}: "
            f"tar xzf {info.archive} -C {root}"
        )
    urls = ", ".join(info.url + p.name for p in files)
    return f"download {urls} ({info.size_note}){again} into {root}"


def check_root(
    name: str,
    root: str | os.PathLike,
    splits: Sequence[str] = ("train", "test"),
    *,
    key: str = "data.root",
) -> None:
    """Check that ``root`` holds the files that ``splits`` of data set ``name`` need.

    Only the presence of the files is checked (cheap); :func:`load` checks their
    contents and :func:`verify` their published MD5 sums.

    Args:
        name: A key of :data:`DATASETS`.
        root: The data root, the folder the archive was unpacked in.
        splits: Split names of that data set.
        key: The configuration key that named ``root``, to start the message with.

    Raises:
        ValueError: Unknown data set or split.
        DatasetFolderError: ``root`` is not a directory or lacks files; the message
            names the folder, every missing file, the files expected and how to get them.
    """
    info = _info(name)
    files = required_files(name, splits)
    root = Path(root).expanduser()
    expected = f"expected {_expected(info, files)}"
    what = f"{info.title} ({info.name})"
    if not root.is_dir():
        state = "is not a directory" if root.exists() else "does not exist"
        raise DatasetFolderError(
            f"{key}: {root} {state}; it should hold {what}: {expected}; "
            f"{_how_to_get(info, root, files)}"
        )
    missing = [p for p in files if not (root / p).is_file()]
    if not missing:
        return
    hints = []
    if info.archive and (root / info.archive).is_file():
        hints.append(f"{root / info.archive} is there but not unpacked")
    if info.folder and root.name == info.folder and all((root / p.name).is_file() for p in files):
        hints.append(f"{key} should be the folder above {info.folder}/, i.e. {root.parent}")
    hint = f" ({'; '.join(hints)})" if hints else ""
    raise DatasetFolderError(
        f"{key}: {root} has no {what}{hint}: missing {', '.join(map(str, missing))}; "
        f"{expected}; {_how_to_get(info, root, missing)}"
    )


def _bad_file(info: DatasetInfo, root: Path, path: Path, problem: str) -> DatasetFileError:
    return DatasetFileError(
        f"{path}: cannot read it as {info.title} ({info.name}) data: {problem}; the file is "
        f"truncated, corrupt or from another source: "
        f"{_how_to_get(info, root, [PurePosixPath(path.name)], again=' again')}"
    )


# ----------------------------------------------------------------------------- readers


def _reraise_system_errors(err: Exception) -> None:
    """Re-raise ``err`` if the system, not the file's contents, caused it."""
    if isinstance(err, MemoryError) or (isinstance(err, OSError) and err.errno is not None):
        raise err


def _unpickle(path: Path) -> dict:
    """A CIFAR pickle as a dict with ``str`` keys, admitting only numpy's array constructors."""
    import pickle

    allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) not in allowed:
                raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
            return super().find_class(module, name)

    with open(path, "rb") as fh:
        # The files were written by Python 2: its str objects come back as latin-1 str.
        obj = _Unpickler(fh, encoding="latin1").load()
        if fh.read(1):
            raise ValueError("trailing bytes after the pickle")
    if not isinstance(obj, dict):
        raise ValueError(f"holds a {type(obj).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _names(values: object) -> tuple[str, ...]:
    return tuple(v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values)


def _labels(values: object, low: int, high: int) -> np.ndarray:
    """Integer labels in ``low..high`` (inclusive) as int64, or ValueError."""
    import numpy as np

    raw = np.asarray(values)
    if raw.size and not np.issubdtype(raw.dtype, np.number):
        raise ValueError(f"labels of dtype {raw.dtype}, not numbers")
    labels = raw.astype(np.int64).reshape(-1)
    if raw.size and not np.array_equal(labels, raw.reshape(-1)):
        raise ValueError("labels that are not integers")
    if labels.size and (labels.min() < low or labels.max() > high):
        raise ValueError(
            f"labels in {labels.min()}..{labels.max()}, outside {low}..{high} of the format"
        )
    return labels


def _read_cifar(info: DatasetInfo, root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    side = info.side
    label_key = "labels" if info.name == "cifar10" else "fine_labels"
    images, labels = [], []
    for file in info.splits[split]:
        path = root / _relative(info, file)
        try:
            entry = _unpickle(path)
            for k in ("data", label_key):
                if k not in entry:
                    raise ValueError(f"no {k!r} entry (keys: {', '.join(map(str, entry))})")
            data = entry["data"]
            if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
                raise ValueError("'data' is not a 2-d uint8 array")
            if data.shape[1] != info.channels * side * side:
                raise ValueError(f"'data' rows of {data.shape[1]} bytes, not {3 * side * side}")
            y = _labels(entry[label_key], 0, info.n_classes - 1)
            if len(y) != len(data):
                raise ValueError(f"{len(data)} images but {len(y)} labels")
        except Exception as err:
            _reraise_system_errors(err)
            raise _bad_file(info, root, path, str(err) or type(err).__name__) from err
        # Each row holds the R, G and B planes, each 32x32 row-major: already (C, H, W).
        images.append(data.reshape(-1, info.channels, side, side))
        labels.append(y)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def _read_svhn(info: DatasetInfo, root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    path = root / _relative(info, info.splits[split][0])
    side = info.side
    try:
        import scipy.io

        mat = scipy.io.loadmat(path)
        for k in ("X", "y"):
            if k not in mat:
                raise ValueError(f"no {k!r} variable")
        x = mat["X"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (side, side, info.channels):
            raise ValueError(
                f"'X' of shape {x.shape} and dtype {x.dtype}, "
                f"not ({side}, {side}, {info.channels}, N) uint8"
            )
        y = _labels(mat["y"], 1, 10)
        if len(y) != x.shape[3]:
            raise ValueError(f"{x.shape[3]} images but {len(y)} labels")
    except Exception as err:
        _reraise_system_errors(err)
        raise _bad_file(info, root, path, str(err) or type(err).__name__) from err
    # X[row, column, channel, image] -> (image, channel, row, column); digit 0 is label 10.
    return np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1))), y % 10


def _read_stl10(info: DatasetInfo, root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    files = info.splits[split]
    x_path = root / _relative(info, files[0])
    side, channels = info.side, info.channels
    per_image = channels * side * side
    size = x_path.stat().st_size
    if size == 0 or size % per_image:
        raise _bad_file(
            info, root, x_path, f"{size} bytes, not a positive multiple of {per_image} (one image)"
        )
    n = size // per_image
    raw = np.memmap(x_path, dtype=np.uint8, mode="r", shape=(n, channels, side, side))
    # Each plane is stored column by column: swap the last two axes to get (row, column).
    images = np.ascontiguousarray(np.transpose(raw, (0, 1, 3, 2)))
    del raw
    if len(files) == 1:
        return images, np.full(n, -1, dtype=np.int64)
    y_path = root / _relative(info, files[1])
    try:
        y = _labels(np.fromfile(y_path, dtype=np.uint8), 1, info.n_classes)
    except Exception as err:
        _reraise_system_errors(err)
        raise _bad_file(info, root, y_path, str(err)) from err
    if len(y) != n:
        # One of the two is truncated: a cut at an image boundary leaves X looking whole.
        raise _bad_file(
            info, root, x_path, f"it holds {n} images but {y_path} holds {len(y)} labels"
        )
    return images, y - 1


_READERS = {
    "cifar10": _read_cifar,
    "cifar100": _read_cifar,
    "svhn": _read_svhn,
    "stl10": _read_stl10,
}


# ----------------------------------------------------------------------------- public


def load(name: str, root: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of data set ``name`` read from the data root.

    Args:
        name: A key of :data:`DATASETS`.
        root: The data root (see :func:`check_root`).
        split: A split of that data set, e.g. ``"train"``.

    Returns:
        ``(images, labels)``: images in pixel order (channel, row, column) and
        labels in ``0..n_classes-1``, or all ``-1`` for STL-10's ``"unlabeled"``.

    Shape:
        - images: ``(N, channels, side, side)``, ``uint8``, C-contiguous.
        - labels: ``(N,)``, ``int64``.

    Raises:
        ValueError: Unknown data set or split.
        DatasetFolderError: Files missing (see :func:`check_root`).
        DatasetFileError: A file is truncated or not in the official format; the
            message names it.
    """
    info = _info(name)
    (split,) = _check_splits(info, (split,))
    check_root(name, root, (split,))
    return _READERS[name](info, Path(root).expanduser(), split)


def load_splits(
    name: str, root: str | os.PathLike, splits: Sequence[str] = ("train", "test")
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Several splits of data set ``name``, each as :func:`load` returns it.

    All the files are checked for presence before any is read.

    Args:
        name: A key of :data:`DATASETS`.
        root: The data root.
        splits: Splits of that data set.

    Returns:
        Split name -> ``(images, labels)``.
    """
    splits = _check_splits(_info(name), splits)
    check_root(name, root, splits)
    return {split: load(name, root, split) for split in splits}


def class_names(name: str, root: str | os.PathLike) -> tuple[str, ...]:
    """The class names of data set ``name``, label order, from its meta file.

    SVHN has no meta file: its classes are the digits ``"0"`` to ``"9"``.

    Raises:
        DatasetFolderError: The meta file is missing.
        DatasetFileError: The meta file cannot be read.
    """
    info = _info(name)
    if not info.meta_files:
        return tuple(str(d) for d in range(info.n_classes))
    root = Path(root).expanduser()
    check_root(name, root, ())
    path = root / _relative(info, info.meta_files[0])
    try:
        if name == "stl10":
            names = tuple(path.read_text(encoding="utf-8").split())
        else:
            meta = _unpickle(path)
            k = "label_names" if name == "cifar10" else "fine_label_names"
            if k not in meta:
                raise ValueError(f"no {k!r} entry")
            names = _names(meta[k])
        if len(names) != info.n_classes:
            raise ValueError(f"{len(names)} class names, not {info.n_classes}")
    except Exception as err:
        _reraise_system_errors(err)
        raise _bad_file(info, root, path, str(err) or type(err).__name__) from err
    return names


@functools.lru_cache(maxsize=1024)
def _file_digest(
    path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int, algorithm: str
) -> str:
    """Hex digest of a file, read in chunks; cached in-process on its identity and times."""
    del size, mtime_ns, ctime_ns, inode  # cache key only
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _digest(path: Path, algorithm: str) -> tuple[int, str]:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return st.st_size, _file_digest(*key, algorithm)


def checksum(name: str, root: str | os.PathLike, splits: Sequence[str] = ("train", "test")) -> str:
    """SHA-256 fingerprint of the files that ``splits`` of data set ``name`` read.

    The files are taken in sorted relative-path order; for each, the line
    ``<relative path>\\0<size>\\0<sha256 of its bytes>\\n`` is hashed. Each file
    is read in chunks and its digest cached in this process on (path, size,
    modification and change times, inode); nothing is written anywhere.

    Args:
        name: A key of :data:`DATASETS`.
        root: The data root.
        splits: Splits of that data set; the meta files always count.

    Returns:
        64 hex digits, the same for the same file contents wherever the root is.

    Raises:
        DatasetFolderError: Files missing (see :func:`check_root`).
    """
    check_root(name, root, splits)
    root = Path(root).expanduser()
    h = hashlib.sha256()
    for rel in sorted(required_files(name, splits), key=str):
        size, digest = _digest(root / rel, "sha256")
        h.update(f"{rel}\0{size}\0{digest}\n".encode())
    return h.hexdigest()


def verify(name: str, root: str | os.PathLike, splits: Sequence[str] = ("train", "test")) -> None:
    """Check the files of ``splits`` against the MD5 sums of the official distribution.

    Reads every file in full (STL-10's unlabeled split is 2.7 GB). Files without a
    published sum (STL-10's ``class_names.txt``) are only checked for presence.

    Raises:
        DatasetFolderError: Files missing (see :func:`check_root`).
        DatasetFileError: A file differs from the official one; the message names it.
    """
    info = _info(name)
    check_root(name, root, splits)
    root = Path(root).expanduser()
    for rel in required_files(name, splits):
        want = info.md5.get(rel.name)
        if want is None:
            continue
        _, got = _digest(root / rel, "md5")
        if got != want:
            raise _bad_file(info, root, root / rel, f"MD5 {got}, not the published {want}")
