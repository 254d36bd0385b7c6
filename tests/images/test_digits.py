"""The shared digits module: data, split and augmentations."""

import numpy as np
import pytest
import torch

from contrastlab.images import digits
from contrastlab.images.digits import (
    Augment,
    add_noise,
    augment,
    random_erase,
    random_shift,
    two_views,
)


def gens(seeds, name="aug"):
    return [torch.Generator().manual_seed(1000 * s + len(name)) for s in seeds]


def batch(S=3, B=20):
    images, _ = digits.load()
    return torch.as_tensor(np.stack([images[s * B : (s + 1) * B] for s in range(S)]))


def test_load_scales_pixels_to_unit_interval():
    images, labels = digits.load()
    assert images.shape == (1797, 64) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    images[0, 0] = 5.0  # a copy: the cache is untouched
    assert digits.load()[0][0, 0] != 5.0


def test_split_is_stratified_disjoint_and_fixed_by_the_seed():
    _, labels = digits.load()
    tr, te = digits.split_indices(0, 0.2)
    assert (len(tr), len(te)) == digits.split_sizes(0.2) == (1437, 360)
    assert not set(tr) & set(te) and len(set(tr) | set(te)) == 1797
    counts = np.bincount(labels[te], minlength=10)
    expected = np.bincount(labels, minlength=10) * 0.2
    assert np.all(np.abs(counts - expected) <= 1)
    tr2, te2 = digits.split_indices(0, 0.2)
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)
    assert not np.array_equal(te, digits.split_indices(1, 0.2)[1])


@pytest.mark.parametrize(
    "aug", [Augment(), Augment(2, 0.3, 1.0, 4), Augment(0, 0.0, 0.0, 1), Augment(1, 1.0, 0.5, 8)]
)
def test_augmentations_keep_shape_and_range(aug):
    x = batch()
    v = augment(x, aug, gens([0, 1, 2]))
    assert v.shape == x.shape and v.dtype == x.dtype
    assert v.min() >= 0.0 and v.max() <= 1.0


def test_zero_strengths_are_the_identity_and_draw_nothing():
    x = batch()
    g = gens([0, 1, 2])
    states = [gi.get_state() for gi in g]
    assert torch.equal(augment(x, Augment(0, 0.0, 0.0, 2), g), x)
    assert all(torch.equal(gi.get_state(), st) for gi, st in zip(g, states, strict=True))


def test_shift_moves_pixels_with_zero_padding():
    x = torch.arange(64, dtype=torch.float64).reshape(1, 1, 64) + 1
    g = [torch.Generator().manual_seed(0)]
    out = random_shift(x, 2, g)
    dy, dx = torch.randint(-2, 3, (1, 2), generator=torch.Generator().manual_seed(0))[0].tolist()
    img, got = x.reshape(8, 8), out.reshape(8, 8)
    for r in range(8):
        for c in range(8):
            rr, cc = r - dy, c - dx
            want = img[rr, cc] if 0 <= rr < 8 and 0 <= cc < 8 else 0.0
            assert got[r, c] == want


def test_erase_zeroes_one_square_patch():
    x = torch.ones(1, 50, 64)
    out = random_erase(x, 1.0, 3, [torch.Generator().manual_seed(1)])
    zeros = (out == 0).reshape(50, 8, 8)
    assert torch.all(zeros.sum((-1, -2)) == 9)
    for img in zeros:
        rows = img.any(1).nonzero().ravel()
        cols = img.any(0).nonzero().ravel()
        assert len(rows) == 3 and len(cols) == 3 and rows[-1] - rows[0] == 2
    none = random_erase(x, 1e-9, 3, [torch.Generator().manual_seed(1)])
    assert torch.equal(none, x)


def test_noise_has_the_requested_std_before_clipping():
    x = torch.full((1, 400, 64), 0.5)
    out = add_noise(x, 0.05, [torch.Generator().manual_seed(2)])
    assert (out - x).std().item() == pytest.approx(0.05, rel=0.03)


def test_batched_seeds_equal_each_seed_alone():
    x = batch()
    aug = Augment(1, 0.1, 0.5, 3)
    v1, v2 = two_views(x, aug, gens([0, 1, 2]))
    for s in range(3):
        a1, a2 = two_views(x[s : s + 1], aug, gens([s]))
        assert torch.equal(v1[s], a1[0]) and torch.equal(v2[s], a2[0])
    assert not torch.equal(v1, v2)


def test_one_generator_per_seed_is_required():
    with pytest.raises(ValueError, match="one generator per seed"):
        augment(batch(), Augment(), gens([0]))
