"""Uniformity, alignment, tolerance and local separation: known answers and naive loops."""

import math

import numpy as np
import pytest
import torch
from scipy.special import i0

from contrastlab.metrics.embedding import alignment, local_separation, neg_uniformity, tolerance


def sphere(n, d, seed=0, S=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(S, n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def test_collapsed_embedding_has_zero_uniformity():
    z = torch.ones(2, 50, 8, dtype=torch.float64) * torch.tensor([1.0, 2.0])[:, None, None]
    torch.testing.assert_close(neg_uniformity(z), torch.zeros(2, dtype=torch.float64))


def test_uniform_points_on_s127_give_the_papers_value():
    # E exp(-2|x-y|^2) = e^-4 E e^{4 x.y}; x.y ~ N(0, 1/d) for large d -> -L_unif ~ 4 - 8/d
    got = neg_uniformity(sphere(1500, 128)).item()
    assert got == pytest.approx(3.94, abs=0.02)
    assert got == pytest.approx(4 - 8 / 128, abs=0.02)


def test_high_dimensional_sphere_approaches_2t():
    for t in (1.0, 2.0):
        got = neg_uniformity(sphere(600, 4096, seed=1), t).item()
        assert got == pytest.approx(2 * t, abs=0.01)


def test_evenly_spaced_circle_matches_bessel_closed_form():
    # on S^1: E exp(-t|x-y|^2) = e^{-2t} I0(2t) for independent uniform angles
    n = 2000
    theta = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    z = torch.stack([theta.cos(), theta.sin()], -1)[None]
    t = 2.0
    # mean over i != j of the evenly spaced points = (n * e^{-2t} I0(2t) - 1) / (n - 1)
    want = -math.log((n * math.exp(-2 * t) * i0(2 * t) - 1) / (n - 1))
    assert neg_uniformity(z, t).item() == pytest.approx(want, rel=1e-9)


def test_uniformity_matches_naive_pairs_and_normalises():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 7, 3, generator=g, dtype=torch.float64) * 5
    got = neg_uniformity(z)
    for s in range(2):
        u = z[s] / z[s].norm(dim=-1, keepdim=True)
        terms = [
            math.exp(-2 * float((u[i] - u[j]).pow(2).sum()))
            for i in range(7)
            for j in range(7)
            if i != j
        ]
        assert got[s].item() == pytest.approx(-math.log(np.mean(terms)), rel=1e-10)


def test_tolerance_on_constructed_classes():
    e1, e2 = torch.eye(3, dtype=torch.float64)[:2]
    # class 0: three copies of e1 (6 ordered pairs, cosine 1); class 1: e2 and -e2 (2 pairs, -1)
    z = torch.stack([e1, e1 * 2, e1 * 0.5, e2, -e2])[None]
    labels = torch.tensor([0, 0, 0, 1, 1])
    assert tolerance(z, labels).item() == pytest.approx((6 - 2) / 8)
    # a class of one sample contributes no pair
    z2 = torch.cat([z, torch.tensor([[[0.0, 0.0, 1.0]]], dtype=torch.float64)], 1)
    assert tolerance(z2, torch.tensor([0, 0, 0, 1, 1, 2])).item() == pytest.approx(0.5)


def test_tolerance_matches_naive_loop_per_seed():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(3, 12, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (3, 12), generator=g)
    got = tolerance(z, labels)
    for s in range(3):
        u = z[s] / z[s].norm(dim=-1, keepdim=True)
        sims = [
            float(u[i] @ u[j])
            for i in range(12)
            for j in range(12)
            if i != j and labels[s, i] == labels[s, j]
        ]
        assert got[s].item() == pytest.approx(np.mean(sims), rel=1e-10)


def test_local_separation_and_alignment_match_naive_loops():
    g = torch.Generator().manual_seed(5)
    z1 = torch.randn(2, 15, 4, generator=g, dtype=torch.float64)
    z2 = torch.randn(2, 15, 4, generator=g, dtype=torch.float64)
    pos, neg = local_separation(z1, z2, k=10)
    al = alignment(z1, z2)
    assert pos.shape == neg.shape == (2, 15)
    for s in range(2):
        u = z1[s] / z1[s].norm(dim=-1, keepdim=True)
        v = z2[s] / z2[s].norm(dim=-1, keepdim=True)
        for i in range(15):
            assert pos[s, i].item() == pytest.approx(float(u[i] @ v[i]), rel=1e-12)
            negs = sorted((float(u[i] @ v[k]) for k in range(15) if k != i), reverse=True)
            assert neg[s, i].item() == pytest.approx(np.mean(negs[:10]), rel=1e-12)
        want = np.mean([float((u[i] - v[i]).pow(2).sum()) for i in range(15)])
        assert al[s].item() == pytest.approx(want, rel=1e-12)
    assert alignment(z1, 3 * z1).abs().max().item() < 1e-12


def test_local_separation_rejects_too_few_samples():
    z = torch.randn(1, 5, 3)
    with pytest.raises(ValueError, match="top-k"):
        local_separation(z, z, k=5)


def test_metrics_batched_over_seeds_equal_each_seed_alone():
    z1, z2 = sphere(40, 6, seed=7, S=3), sphere(40, 6, seed=8, S=3)
    labels = torch.arange(40) % 4
    for s in range(3):
        one1, one2 = z1[s : s + 1], z2[s : s + 1]
        assert torch.equal(neg_uniformity(z1)[s], neg_uniformity(one1)[0])
        assert torch.equal(tolerance(z1, labels)[s], tolerance(one1, labels)[0])
        assert torch.equal(local_separation(z1, z2)[1][s], local_separation(one1, one2)[1][0])
