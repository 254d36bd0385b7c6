"""The real image data sets read from miniatures written in their exact official layouts.

The expected pixels are read from the raw files with the official layout spelled
out here (byte offsets, MATLAB axis order), independently of the loaders.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from contrastlab.images import datasets as ds
from contrastlab.images.datasets import DatasetFileError, DatasetFolderError

from images.miniature import STL10_NAMES, write_miniature

ALL_SPLITS = {
    "cifar10": ("train", "test"),
    "cifar100": ("train", "test"),
    "svhn": ("train", "test", "extra"),
    "stl10": ("train", "test", "unlabeled"),
}
SIZES = {
    "cifar10": {"n_per_batch": 20},
    "cifar100": {"n_train": 120, "n_test": 100},
    "svhn": {"n_train": 30, "n_test": 20, "n_extra": 12},
    "stl10": {"n_train": 20, "n_test": 15, "n_unlabeled": 7},
}
COUNTS = {
    "cifar10": {"train": 100, "test": 20},
    "cifar100": {"train": 120, "test": 100},
    "svhn": {"train": 30, "test": 20, "extra": 12},
    "stl10": {"train": 20, "test": 15, "unlabeled": 7},
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """One root holding the miniatures of all four sources (read only)."""
    root = tmp_path_factory.mktemp("data")
    for name, sizes in SIZES.items():
        write_miniature(name, root, seed=1, **sizes)
    return root


def fresh(name: str, tmp_path: Path) -> Path:
    """A root of its own holding the miniature of ``name`` (for tests that alter files)."""
    return write_miniature(name, tmp_path / "data", seed=2, **SIZES[name])


def raw_pickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


# ----------------------------------------------------------------------------- layouts


def test_cifar10_pixels_follow_the_official_layout(data_root):
    images, labels = ds.load("cifar10", data_root, "train")
    folder = data_root / "cifar-10-batches-py"
    batches = [raw_pickle(folder / f"data_batch_{i}") for i in range(1, 6)]
    # Image 7 of data_batch_3: row n of b"data" holds R, G, B planes of 32x32, row-major.
    n, c, r, col = 7, 2, 5, 17
    assert images[2 * 20 + n, c, r, col] == batches[2][b"data"][n, c * 1024 + r * 32 + col]
    # Every pixel of every batch, by the same byte-offset rule, in batch order.
    expect = np.concatenate([b[b"data"] for b in batches])
    idx = np.arange(3072)
    c_, r_, col_ = idx // 1024, (idx // 32) % 32, idx % 32
    assert np.array_equal(images[:, c_, r_, col_], expect)
    assert np.array_equal(labels, np.concatenate([b[b"labels"] for b in batches]))

    test_images, test_labels = ds.load("cifar10", data_root, "test")
    raw = raw_pickle(folder / "test_batch")
    assert np.array_equal(test_images.reshape(len(test_images), -1), raw[b"data"])
    assert np.array_equal(test_labels, raw[b"labels"])


def test_cifar100_uses_the_fine_labels(data_root):
    images, labels = ds.load("cifar100", data_root, "train")
    raw = raw_pickle(data_root / "cifar-100-python" / "train")
    assert images[3, 1, 30, 2] == raw[b"data"][3, 1 * 1024 + 30 * 32 + 2]
    assert np.array_equal(images.reshape(len(images), -1), raw[b"data"])
    assert np.array_equal(labels, raw[b"fine_labels"])
    assert not np.array_equal(labels, raw[b"coarse_labels"])
    assert set(labels.tolist()) == set(range(100))  # 120 images cover all 100 classes


def test_svhn_pixels_and_digit_zero(data_root):
    images, labels = ds.load("svhn", data_root, "train")
    mat = scipy.io.loadmat(data_root / "train_32x32.mat")
    x, y = mat["X"], mat["y"]
    assert x.shape == (32, 32, 3, 30) and y.shape == (30, 1)
    # X[row, column, channel, image] in MATLAB order.
    n, c, r, col = 11, 0, 3, 29
    assert images[n, c, r, col] == x[r, col, c, n]
    assert np.array_equal(images, np.moveaxis(x, (3, 2, 0, 1), (0, 1, 2, 3)))
    assert 10 in y and 0 not in y  # the file says 10 for the digit 0 ...
    assert np.array_equal(labels, np.where(y[:, 0] == 10, 0, y[:, 0]))  # ... the loader says 0
    assert labels.min() == 0 and labels.max() == 9

    extra_images, extra_labels = ds.load("svhn", data_root, "extra")
    assert extra_images.shape == (12, 3, 32, 32) and extra_labels.shape == (12,)


def test_stl10_pixels_are_stored_column_major(data_root):
    images, labels = ds.load("stl10", data_root, "train")
    folder = data_root / "stl10_binary"
    raw = np.frombuffer((folder / "train_X.bin").read_bytes(), dtype=np.uint8)
    # Image n, plane c: 96x96 bytes column by column, so (row r, column col) at col * 96 + r.
    n, c, r, col = 13, 1, 4, 71
    assert images[n, c, r, col] == raw[n * 27648 + c * 9216 + col * 96 + r]
    assert images[n, c, r, col] != raw[n * 27648 + c * 9216 + r * 96 + col]  # not row-major
    planes = raw.reshape(20, 3, 96, 96)  # [image, channel, column, row]
    assert np.array_equal(images, planes.swapaxes(2, 3))

    y = np.frombuffer((folder / "train_y.bin").read_bytes(), dtype=np.uint8)
    assert y.min() == 1 and y.max() == 10
    assert np.array_equal(labels, y.astype(np.int64) - 1)

    unlabeled, none = ds.load("stl10", data_root, "unlabeled")
    raw_u = np.frombuffer((folder / "unlabeled_X.bin").read_bytes(), dtype=np.uint8)
    assert unlabeled[6, 2, 95, 0] == raw_u[6 * 27648 + 2 * 9216 + 0 * 96 + 95]
    assert np.array_equal(none, np.full(7, -1))


@pytest.mark.parametrize("name", sorted(ds.DATASETS))
def test_shapes_dtypes_and_splits(name, data_root):
    info = ds.DATASETS[name]
    out = ds.load_splits(name, data_root, ALL_SPLITS[name])
    assert list(out) == list(ALL_SPLITS[name])
    for split, (images, labels) in out.items():
        n = COUNTS[name][split]
        assert images.shape == (n, info.channels, info.side, info.side)
        assert images.dtype == np.uint8 and images.flags.c_contiguous
        assert labels.shape == (n,) and labels.dtype == np.int64
        if not (name == "stl10" and split == "unlabeled"):
            assert 0 <= labels.min() and labels.max() < info.n_classes
    assert len(ds.class_names(name, data_root)) == info.n_classes


def test_class_names(data_root):
    assert ds.class_names("cifar10", data_root)[:2] == ("airplane", "automobile")
    assert ds.class_names("cifar100", data_root)[99] == "fine_99"
    assert ds.class_names("stl10", data_root) == STL10_NAMES
    assert ds.class_names("svhn", data_root) == tuple("0123456789")


def test_required_files():
    assert [str(p) for p in ds.required_files("stl10", ["unlabeled"])] == [
        "stl10_binary/unlabeled_X.bin",
        "stl10_binary/class_names.txt",
    ]
    assert [str(p) for p in ds.required_files("svhn", ("train", "test"))] == [
        "train_32x32.mat",
        "test_32x32.mat",
    ]
    cifar = [str(p) for p in ds.required_files("cifar10", ("train", "test"))]
    assert cifar[0] == "cifar-10-batches-py/data_batch_1" and len(cifar) == 7


# ----------------------------------------------------------------------------- folder errors


def test_missing_file_names_folder_file_and_url(tmp_path):
    root = fresh("cifar10", tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetFolderError) as info:
        ds.check_root("cifar10", root)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert msg.startswith(f"data.root: {root} has no CIFAR-10 (cifar10)")
    assert "missing cifar-10-batches-py/data_batch_3;" in msg
    assert "expected cifar-10-batches-py/{data_batch_1, data_batch_2," in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (163 MB)" in msg
    assert f"tar xzf cifar-10-python.tar.gz -C {root}" in msg
    # The test split alone does not need the missing batch.
    ds.check_root("cifar10", root, ["test"])
    assert ds.load("cifar10", root, "test")[0].shape == (20, 3, 32, 32)
    with pytest.raises(DatasetFolderError, match="data_batch_3"):
        ds.load("cifar10", root, "train")


def test_missing_stl10_unlabeled_only_when_asked(tmp_path):
    root = fresh("stl10", tmp_path)
    (root / "stl10_binary" / "unlabeled_X.bin").unlink()
    ds.check_root("stl10", root)  # train and test
    with pytest.raises(DatasetFolderError, match=r"missing stl10_binary/unlabeled_X\.bin;"):
        ds.load_splits("stl10", root, ("train", "unlabeled"))


def test_missing_svhn_files_give_their_urls(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DatasetFolderError) as info:
        ds.check_root("svhn", root)
    msg = str(info.value)
    assert "missing train_32x32.mat, test_32x32.mat;" in msg
    assert "http://ufldl.stanford.edu/housenumbers/train_32x32.mat" in msg
    assert "http://ufldl.stanford.edu/housenumbers/test_32x32.mat" in msg
    assert f"into {root}" in msg


@pytest.mark.parametrize("name", sorted(ds.DATASETS))
def test_empty_folder_lists_every_file(name, tmp_path):
    with pytest.raises(DatasetFolderError) as info:
        ds.load_splits(name, tmp_path, ALL_SPLITS[name])
    msg = str(info.value)
    assert str(tmp_path) in msg and ds.DATASETS[name].url in msg
    for rel in ds.required_files(name, ALL_SPLITS[name]):
        assert str(rel) in msg


def test_root_not_a_directory(tmp_path):
    with pytest.raises(DatasetFolderError, match="does not exist; it should hold STL-10"):
        ds.check_root("stl10", tmp_path / "nowhere")
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(DatasetFolderError, match="is not a directory") as info:
        ds.load("cifar100", file, "train")
    assert "cifar-100-python.tar.gz" in str(info.value)


def test_hints_for_an_unpacked_archive_and_a_root_one_level_too_deep(tmp_path):
    root = fresh("cifar10", tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DatasetFolderError, match="is there but not unpacked"):
        ds.check_root("cifar10", tmp_path / "other")
    with pytest.raises(DatasetFolderError, match=f"should be the folder above .*, i.e. {root}"):
        ds.check_root("cifar10", root / "cifar-10-batches-py", key="images.root")


def test_unknown_name_and_split(data_root):
    with pytest.raises(ValueError, match="unknown data set 'mnist'; known: cifar10, cifar100"):
        ds.check_root("mnist", data_root)
    with pytest.raises(ValueError, match="has no split 'extra'; its splits: train, test"):
        ds.load("cifar10", data_root, "extra")
    with pytest.raises(ValueError, match="unknown data set"):
        ds.required_files("imagenet", ["train"])


# ----------------------------------------------------------------------------- bad files

TRUNCATE = {
    "cifar10": "cifar-10-batches-py/data_batch_2",
    "cifar100": "cifar-100-python/test",
    "svhn": "test_32x32.mat",
    "stl10": "stl10_binary/test_X.bin",
}


@pytest.mark.parametrize("name", sorted(TRUNCATE))
def test_truncated_file_is_named(name, tmp_path):
    root = fresh(name, tmp_path)
    path = root / TRUNCATE[name]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    split = "train" if name == "cifar10" else "test"
    with pytest.raises(DatasetFileError) as info:
        ds.load(name, root, split)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value) and ds.DATASETS[name].url in str(info.value)


@pytest.mark.parametrize("name", sorted(TRUNCATE))
def test_garbage_file_is_named(name, tmp_path):
    root = fresh(name, tmp_path)
    path = root / TRUNCATE[name]
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    split = "train" if name == "cifar10" else "test"
    with pytest.raises(DatasetFileError, match=str(path)):
        ds.load(name, root, split)


def test_bad_labels_are_named(tmp_path):
    root = fresh("stl10", tmp_path)
    y = root / "stl10_binary" / "train_y.bin"
    y.write_bytes(y.read_bytes()[:-1])  # one label short
    match = f"train_X.bin: .*holds 20 images but {y} holds 19 labels"
    with pytest.raises(DatasetFileError, match=match):
        ds.load("stl10", root, "train")
    y.write_bytes(bytes([0] * 20))  # 0 is not a label of the format
    with pytest.raises(DatasetFileError, match="outside 1..10"):
        ds.load("stl10", root, "train")


def test_pickle_cannot_run_code(tmp_path):
    root = fresh("cifar10", tmp_path)
    marker = tmp_path / "ran"
    path = root / "cifar-10-batches-py" / "test_batch"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DatasetFileError, match="refusing to load global"):
        ds.load("cifar10", root, "test")
    assert not marker.exists()


# ----------------------------------------------------------------------------- checksums


def test_checksum_stable_and_sensitive(tmp_path):
    root = fresh("stl10", tmp_path)
    first = ds.checksum("stl10", root)
    assert len(first) == 64 and int(first, 16) >= 0
    assert ds.checksum("stl10", root) == first
    assert ds.checksum("stl10", str(root), ["test", "train"]) == first  # order of splits
    assert ds.checksum("stl10", root, ["train"]) != first

    # The same contents elsewhere give the same checksum.
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert ds.checksum("stl10", copy) == first

    path = root / "stl10_binary" / "test_X.bin"
    data = bytearray(path.read_bytes())
    data[1234] ^= 1
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = ds.checksum("stl10", root)
    assert changed != first
    assert ds.checksum("stl10", root) == changed


def test_checksum_matches_its_definition(data_root):
    h = hashlib.sha256()
    for rel in sorted(map(str, ds.required_files("svhn", ("train", "test")))):
        data = (data_root / rel).read_bytes()
        h.update(f"{rel}\0{len(data)}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    assert ds.checksum("svhn", data_root) == h.hexdigest()


def test_checksum_needs_the_files(tmp_path):
    with pytest.raises(DatasetFolderError):
        ds.checksum("cifar100", tmp_path)


def test_verify_against_published_md5(tmp_path, monkeypatch):
    root = fresh("cifar100", tmp_path)
    with pytest.raises(DatasetFileError, match=r"cifar-100-python/train: .*not the published"):
        ds.verify("cifar100", root)
    info = ds.DATASETS["cifar100"]
    sums = {f: hashlib.md5((root / info.folder / f).read_bytes()).hexdigest() for f in info.md5}
    monkeypatch.setitem(ds.DATASETS, "cifar100", dataclasses.replace(info, md5=sums))
    ds.verify("cifar100", root)


def test_import_is_light():
    code = (
        "import sys, contrastlab.images.datasets as d; "
        "heavy = {'numpy', 'scipy', 'torch', 'pickle'} & set(sys.modules); "
        "assert not heavy, heavy; "
        "assert set(d.DATASETS) == {'cifar10', 'cifar100', 'svhn', 'stl10'}"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
