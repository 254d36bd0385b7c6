"""The fused training path of the sparse/dense family: loss and gradient by hand,
per-member masking, and exact (bit for bit) independence of every member from the
rest of the batch (CPU, one thread: tests/conftest.py)."""

import dataclasses

import numpy as np
import pytest
import torch

from contrastlab.engine import Engine, streams
from contrastlab.families.sparse_dense.config import SparseDenseConfig
from contrastlab.families.sparse_dense.data import make_sparse_dense
from contrastlab.families.sparse_dense.model import (
    RoundMasks,
    sym_relu,
    sym_relu_infonce,
    uses_bits,
    views,
)
from contrastlab.families.sparse_dense.task import SparseDenseTask
from contrastlab.losses.infonce import (
    infonce_in_batch,
    infonce_in_batch_fused,
    infonce_in_batch_grad,
)

F64 = torch.float64


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# -- loss and gradient ----------------------------------------------------------------
@pytest.mark.parametrize("tau", [0.05, 0.5, 0.01])  # 0.01: the two-exponential path
@pytest.mark.parametrize("symmetric", [True, False])
def test_infonce_grad_equals_autograd(tau, symmetric):
    z1 = _randn(3, 9, 5, seed=1).requires_grad_()
    z2 = _randn(3, 9, 5, seed=2).requires_grad_()
    ref = infonce_in_batch(z1, z2, tau, symmetric)
    d1, d2 = torch.autograd.grad(ref.sum(), [z1, z2])
    loss, g1, g2 = infonce_in_batch_grad(z1.detach(), z2.detach(), tau, symmetric)
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, d1, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, d2, rtol=1e-10, atol=1e-12)


def test_fused_infonce_backward_scales_by_the_upstream_gradient():
    z1 = _randn(5, 7, 4, seed=3).requires_grad_()
    z2 = _randn(5, 7, 4, seed=4).requires_grad_()
    weights = torch.arange(1.0, 6.0, dtype=F64)
    ref = infonce_in_batch(z1, z2, 0.1)
    r1, r2 = torch.autograd.grad((ref * weights).sum(), [z1, z2])
    got = infonce_in_batch_fused(z1, z2, 0.1, chunk=2)
    f1, f2 = torch.autograd.grad((got * weights).sum(), [z1, z2])
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(f1, r1, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(f2, r2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk", [0, 1, 2])
def test_sym_relu_infonce_equals_autograd(chunk):
    K, B, d1, m = 3, 16, 6, 5
    x1, x2 = _randn(K, B, d1, seed=5), _randn(K, B, d1, seed=6)
    W = _randn(K, m, d1, seed=7)
    b = 0.3 * _randn(K, m, seed=8)  # some negative biases: both ReLUs active at once
    assert (b < 0).any() and (b > 0).any()
    Wr, br = W.clone().requires_grad_(), b.clone().requires_grad_()
    weights = torch.tensor([1.0, 2.0, 0.5], dtype=F64)
    ref = infonce_in_batch(sym_relu(x1, Wr, br), sym_relu(x2, Wr, br), 0.05)
    gW, gb = torch.autograd.grad((ref * weights).sum(), [Wr, br])
    Wf, bf = W.clone().requires_grad_(), b.clone().requires_grad_()
    got = sym_relu_infonce(x1, x2, Wf, bf, 0.05, chunk=chunk)
    fW, fb = torch.autograd.grad((got * weights).sum(), [Wf, bf])
    torch.testing.assert_close(got, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fW, gW, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(fb, gb, rtol=1e-9, atol=1e-12)


def test_nonnegative_bias_path_gives_the_general_paths_numbers():
    # a chunk whose biases are all >= 0 takes the clamp path; the same member in a chunk
    # with a negative bias takes the general one: the same values (zero signs aside)
    g = torch.Generator().manual_seed(1)
    K, B, d1, m = 2, 256, 50, 50
    x1, x2 = torch.randn(K, B, d1, generator=g), torch.randn(K, B, d1, generator=g)
    W = torch.randn(K, m, d1, generator=g) / d1**0.5
    b = torch.rand(K, m, generator=g) * 0.3
    b[0, :5] = 0.0  # a zero bias: both ReLUs meet at a = 0
    b[1, 0] = -0.2  # member 1 forces the general path on a chunk of both

    def run(idx):
        Wi, bi = W[idx].clone().requires_grad_(), b[idx].clone().requires_grad_()
        loss = sym_relu_infonce(x1[idx], x2[idx], Wi, bi, 0.05, chunk=0)
        loss.sum().backward()
        return loss.detach(), Wi.grad, bi.grad

    for fast, general in zip(run([0]), run([0, 1]), strict=True):
        assert torch.equal(fast[0], general[0])


def test_sym_relu_infonce_float32_close_to_autograd():
    g = torch.Generator().manual_seed(0)
    K, B, d1, m = 2, 256, 50, 50
    x1, x2 = torch.randn(K, B, d1, generator=g), torch.randn(K, B, d1, generator=g)
    W = (torch.randn(K, m, d1, generator=g) / d1**0.5).requires_grad_()
    b = torch.full((K, m), 0.1, requires_grad=True)
    ref = infonce_in_batch(sym_relu(x1, W, b), sym_relu(x2, W, b), 0.05)
    gW, gb = torch.autograd.grad(ref.sum(), [W, b])
    got = sym_relu_infonce(x1, x2, W, b, 0.05)
    fW, fb = torch.autograd.grad(got.sum(), [W, b])
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fW, gW, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(fb, gb, rtol=1e-4, atol=1e-6)


# -- views --------------------------------------------------------------------------------
def _gens(seeds):
    return streams(seeds, "sparse_dense", "augment")


def _reference_views(x, masking, keep_prob, gens, steps=1):
    """The views written from their definition, one member and step at a time: uniforms
    ``torch.rand < p`` per step, or, for keep probability 1/2, the round's random 64-bit
    words (one draw per member and round) read as bytes, bit e % 8 of byte e // 8."""
    B, d1 = x.shape[1:]
    n = B * d1
    draws = {"none": 0, "independent": 2, "complementary": 1}[masking]
    out = []  # out[t] = (x1, x2) of step t
    if masking == "none":
        return [(x, x)] * steps
    if uses_bits(masking, keep_prob):  # full-range int64 words, read as bytes
        words = [torch.empty((steps, draws, -(-n // 64)), dtype=torch.int64)
                 .random_(-(2**63), None, generator=g).view(torch.uint8) for g in gens]  # fmt: skip
    for t in range(steps):
        masks = []  # masks[j][i]: draw j of member i, bool (B, d1)
        for j in range(draws):
            per = []
            for i, g in enumerate(gens):
                if uses_bits(masking, keep_prob):
                    bits = [(int(words[i][t, j, e // 8]) >> (e % 8)) & 1 for e in range(n)]
                    per.append(torch.tensor(bits, dtype=torch.bool).reshape(B, d1))
                else:
                    per.append(torch.rand((B, d1), generator=g) < keep_prob)
            masks.append(torch.stack(per))
        if masking == "independent":
            out.append((x * masks[0] / keep_prob, x * masks[1] / keep_prob))
        else:
            out.append((2 * x * masks[0], 2 * x * (~masks[0])))
    return out


@pytest.mark.parametrize("masking", ["none", "independent", "complementary"])
@pytest.mark.parametrize("keep_prob", [0.5, 0.7])
def test_views_equal_their_definition(masking, keep_prob):
    x = torch.randn(3, 8, 6, generator=torch.Generator().manual_seed(0))
    g_new, g_ref = _gens([0, 1, 2]), _gens([0, 1, 2])
    for _ in range(2):  # two rounds: the streams advance alike
        masks = RoundMasks(masking, keep_prob, g_new, 3, x.shape[1:])
        ref = _reference_views(x, masking, keep_prob, g_ref, steps=3)
        for t in range(3):
            got = masks.views(x, t)
            for a, b in zip((got[:, :8], got[:, 8:]), ref[t], strict=True):
                assert torch.equal(a, b) and torch.equal(torch.signbit(a), torch.signbit(b))
    for a, b in zip(g_new, g_ref, strict=True):
        assert torch.equal(a.get_state(), b.get_state())


@pytest.mark.parametrize("masking", ["independent", "complementary"])
def test_bit_masks_are_fair_independent_coins(masking):
    # the defining statistics of D ~ diag(Bernoulli(1/2)): mean 1/2 per coordinate,
    # no correlation between coordinates, steps, or the two masks of independent views
    x = torch.ones(1, 64, 50)
    masks = RoundMasks(masking, 0.5, _gens([3]), 200, x.shape[1:])
    d = torch.stack([masks.views(x, t)[0] for t in range(200)])  # (step, 2B, d1)
    d = (d > 0).double()  # D1 (rows :64) and D2 (rows 64:) per step
    n = 200 * 64 * 50
    assert abs(d[:, :64].mean().item() - 0.5) < 4 * 0.5 / n**0.5
    c = d[:, :64] - 0.5
    others = [c.roll(1, -1), c.roll(1, 0)]  # the next coordinate, the next step
    if masking == "independent":
        others.append(d[:, 64:] - 0.5)  # the other view's mask
    for other in others:
        assert abs((c * other).mean().item() / 0.25) < 4 / n**0.5
    if masking == "complementary":  # the second view's mask is the complement
        assert torch.equal(d[:, :64] + d[:, 64:], torch.ones_like(d[:, :64]))


def test_views_per_member_masking_equal_each_member_alone():
    x = torch.randn(6, 8, 6, generator=torch.Generator().manual_seed(0))
    seeds = [0, 1, 2, 0, 1, 2]  # repeated seed values: members go by position
    ms = ["none", "none", "independent", "independent", "complementary", "complementary"]
    gens, alone = _gens(seeds), [_gens([s]) for s in seeds]
    for _ in range(2):  # two steps: every stream advances as it does alone
        v1, v2 = views(x, ms, 0.6, gens)
        for i, m in enumerate(ms):
            a1, a2 = views(x[i : i + 1], m, 0.6, alone[i])
            assert torch.equal(v1[i], a1[0]) and torch.equal(v2[i], a2[0])
    with pytest.raises(ValueError, match="masking"):
        views(x, ["none"] * 5, 0.5, gens)
    with pytest.raises(ValueError, match="masking"):
        views(x, "sometimes", 0.5, gens)


# -- exact independence of the members of a batch ---------------------------------------
CFG = SparseDenseConfig(n_train=400, n_eval=100, steps=12, eval_every=6)


def _train(seeds, masking="complementary", cfg=CFG):
    """Train ``seeds``; ``masking``: one for all, or one per seed (as the members of a
    fused job, each with its own config)."""
    if isinstance(masking, str):
        cfg, members = dataclasses.replace(cfg, masking=masking), None
    else:
        members = [dataclasses.replace(cfg, masking=m) for m in masking]
    task = SparseDenseTask(cfg, make_sparse_dense(cfg, seeds), torch.device("cpu"), members)
    return Engine(task, {}, log=lambda m: None).run()


def _assert_member_equal(a, i, b, j):
    for v in a.data_vars:
        x, y = a[v].isel(seed=i).values, b[v].isel(seed=j).values
        assert np.array_equal(x, y, equal_nan=True), f"{v}: max diff {np.nanmax(abs(x - y))}"


@pytest.mark.parametrize("masking", ["none", "independent", "complementary"])
def test_a_seed_gets_the_same_bits_in_any_batch(masking):
    # batch 256, one thread: 16 seeds per chunk (seed_chunk), so 18 seeds span two chunks
    # of different sizes
    a = _train([0, 1, 2], masking)
    b = _train([2, 5, 0, 7], masking)
    c = _train([*range(3, 20), 2], masking)  # seed 2 in the second chunk
    _assert_member_equal(a, 0, b, 2)
    _assert_member_equal(a, 2, b, 0)
    _assert_member_equal(a, 2, c, 17)


def test_per_member_masking_equals_each_point_alone():
    # one job training three sweep points (what a fused job does), vs each point alone
    seeds, ms = [0, 1, 2], ["none", "independent", "complementary"]
    fused = _train(seeds, ms)
    for i, (s, m) in enumerate(zip(seeds, ms, strict=True)):
        _assert_member_equal(fused, i, _train([s], m), 0)


def test_repeated_members_get_the_same_bits():
    # the loss and gradient of identical members (a seed repeated per fused point) are
    # equal to each other and to the seed alone, whatever the chunk
    g = torch.Generator().manual_seed(0)
    K, B, d1, m = 3, 256, 50, 50
    x1, x2 = torch.randn(K, B, d1, generator=g), torch.randn(K, B, d1, generator=g)
    W, b = torch.randn(K, m, d1, generator=g) / d1**0.5, torch.full((K, m), 0.1)
    order = [0, 1, 2, 0, 1, 2, 0, 1, 2, 2]  # 10 members: chunks of 8 and 2 (below)

    def run(idx, chunk=None):
        Wi, bi = W[idx].clone().requires_grad_(), b[idx].clone().requires_grad_()
        loss = sym_relu_infonce(x1[idx], x2[idx], Wi, bi, 0.05, chunk=chunk)
        loss.sum().backward()
        return loss.detach(), Wi.grad, bi.grad

    big = run(order, chunk=8)
    for pos, k in enumerate(order):
        for chunk in (None, 1):
            alone = run([k], chunk)
            for t_big, t_alone in zip(big, alone, strict=True):
                assert torch.equal(t_big[pos], t_alone[0])
