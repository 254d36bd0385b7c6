import numpy as np
import pytest
import torch

from contrastlab.families.sparse_dense.data import sample_dictionary
from contrastlab.families.sparse_dense.metrics import (
    atom_alignment,
    cosine_matrix,
    dense_fraction,
    support_probe_auc,
)
from contrastlab.metrics.probes import auc


@pytest.fixture
def M():
    return sample_dictionary(12, 4, torch.Generator().manual_seed(1)).unsqueeze(0)  # (1, 12, 4)


def test_weights_equal_to_atoms_align_perfectly(M):
    W = 3.0 * M.transpose(1, 2)  # neuron i = 3 * atom i
    np.testing.assert_allclose(atom_alignment(W, M).numpy(), 1.0, atol=1e-12)
    assert dense_fraction(W, M).item() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(cosine_matrix(W, M)[0].numpy(), np.eye(4), atol=1e-12)


def test_weights_orthogonal_to_the_atoms_are_all_dense(M):
    P = torch.eye(12, dtype=M.dtype) - M[0] @ M[0].T
    W = (P @ torch.randn(12, 6, dtype=M.dtype)).T.unsqueeze(0)
    assert dense_fraction(W, M).item() == pytest.approx(1.0)
    assert atom_alignment(W, M).max().item() < 1e-10


def test_mixed_weight_has_the_known_dense_fraction(M):
    # w = a * M_0 + b * u with u orthogonal to span(M): dense fraction b^2/(a^2+b^2)
    P = torch.eye(12, dtype=M.dtype) - M[0] @ M[0].T
    u = P @ torch.randn(12, dtype=M.dtype)
    u = u / u.norm()
    w = (0.6 * M[0, :, 0] + 0.8 * u).reshape(1, 1, 12)
    assert dense_fraction(w, M).item() == pytest.approx(0.64)
    assert atom_alignment(w, M)[0, 0].item() == pytest.approx(0.6)


def naive_auc(scores, labels):
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(3, 40)).astype(float)  # many ties
    labels = rng.random((3, 40)) < 0.3
    got = auc(scores, labels)
    for i in range(3):
        assert got[i] == pytest.approx(naive_auc(scores[i], labels[i]))
    assert np.isnan(auc(np.arange(4.0), np.zeros(4, bool)))


def test_probe_reads_the_support_when_features_encode_it():
    g = torch.Generator().manual_seed(0)
    z = (torch.rand(1, 400, 3, generator=g) < 0.2).float() * torch.where(
        torch.rand(1, 400, 3, generator=g) < 0.5, -1.0, 1.0
    )
    feats = torch.cat([z, torch.randn(1, 400, 2, generator=g)], -1)  # signed, like an odd f
    assert support_probe_auc(feats, z).min() > 0.99
    noise = torch.randn(1, 400, 5, generator=g)
    assert abs(support_probe_auc(noise, z).mean() - 0.5) < 0.1
