"""Parity tests of the triplet-style losses (anchors, positives, negatives) against naive
per-sample loops of the formulas: the HLTM code's batch-level nce/subtract, distance
InfoNCE and soft triplet."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.losses import batch_nce, batch_subtract, infonce_distance, soft_triplet


def _unit(shape, seed):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(*shape, generator=g, dtype=torch.float64)
    return f / f.norm(dim=-1, keepdim=True)


@pytest.fixture(params=[(1, 4, 3), (3, 16, 10)], ids=["S1B4d3", "S3B16d10"])
def triplet(request):
    S, B, d = request.param
    return _unit((S, B, d), 0), _unit((S, B, d), 1), _unit((S, B, d), 2)


def naive_mse(a, b):
    B, d = a.shape
    total = 0.0
    for i in range(B):
        for k in range(d):
            total += (float(a[i, k]) - float(b[i, k])) ** 2
    return total / (B * d)


class TestBatchLevel:
    @pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
    def test_nce_equals_code_formula(self, triplet, tau):
        f, fp, fn = triplet
        got = batch_nce(f, fp, fn, tau)
        for s in range(f.shape[0]):
            pos, neg = naive_mse(f[s], fp[s]), naive_mse(f[s], fn[s])
            ep, en = math.exp(-pos / tau), math.exp(-neg / tau)
            assert got[s].item() == pytest.approx(-ep / (ep + en), rel=1e-9, abs=1e-12)

    def test_nce_no_underflow_nan(self):
        # the literal formula gives 0/0 in float32 when pos/tau and neg/tau are large
        f = torch.tensor([[[1.0, 0.0]]])
        fp = torch.tensor([[[-1.0, 0.0]]])
        fn = torch.tensor([[[0.0, 1.0]]])
        out = batch_nce(f, fp, fn, 1e-3)
        assert torch.isfinite(out).all()

    def test_subtract(self, triplet):
        f, fp, fn = triplet
        got = batch_subtract(f, fp, fn)
        for s in range(f.shape[0]):
            want = naive_mse(f[s], fp[s]) - naive_mse(f[s], fn[s])
            assert got[s].item() == pytest.approx(want, rel=1e-9, abs=1e-12)


class TestPerAnchor:
    @pytest.mark.parametrize("tau", [0.1, 0.5])
    def test_infonce_equals_loop(self, triplet, tau):
        f, fp, fn = triplet
        got = infonce_distance(f, fp, fn, tau)
        S, B, _ = f.shape
        for s in range(S):
            total = 0.0
            for i in range(B):
                d_pos = 0.5 * float(((f[s, i] - fp[s, i]) ** 2).sum())
                num = math.exp(-d_pos / tau)
                den = num
                for k in range(B):
                    d_neg = 0.5 * float(((f[s, i] - fn[s, k]) ** 2).sum())
                    den += math.exp(-d_neg / tau)
                total += -math.log(num / den)
            assert got[s].item() == pytest.approx(total / B, rel=1e-9)

    @pytest.mark.parametrize("tau,margin", [(0.1, 0.0), (0.5, 0.2)])
    def test_soft_triplet_equals_loop(self, triplet, tau, margin):
        f, fp, fn = triplet
        got = soft_triplet(f, fp, fn, tau, margin)
        S, B, _ = f.shape
        for s in range(S):
            total = 0.0
            for i in range(B):
                d_pos = 0.5 * float(((f[s, i] - fp[s, i]) ** 2).sum())
                d_neg = 0.5 * float(((f[s, i] - fn[s, i]) ** 2).sum())
                total += tau * math.log(1 + math.exp((d_pos - d_neg + margin) / tau))
            assert got[s].item() == pytest.approx(total / B, rel=1e-9)


LOSSES = {
    "nce": lambda f, fp, fn: batch_nce(f, fp, fn, 0.2),
    "subtract": batch_subtract,
    "infonce": lambda f, fp, fn: infonce_distance(f, fp, fn, 0.2),
    "soft_triplet": lambda f, fp, fn: soft_triplet(f, fp, fn, 0.2, 0.1),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_per_seed_gradient_is_own(name):
    """Training on the sum over seeds gives each seed the gradient of its own loss."""
    loss_fn = LOSSES[name]
    f = _unit((2, 8, 5), 3).requires_grad_(True)
    fp, fn = _unit((2, 8, 5), 4), _unit((2, 8, 5), 5)
    loss = loss_fn(f, fp, fn)
    assert loss.shape == (2,)
    (g_all,) = torch.autograd.grad(loss.sum(), f)
    f1 = f[1:].detach().clone().requires_grad_(True)
    (g_one,) = torch.autograd.grad(loss_fn(f1, fp[1:], fn[1:]).sum(), f1)
    torch.testing.assert_close(g_all[1:], g_one)
