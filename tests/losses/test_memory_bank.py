"""The memory-bank losses and update against naive loops written from Wu et al.'s and
Wang & Liu's formulas."""

import math

import torch

from contrastlab.losses.memory_bank import bank_infonce, ema_update, n_bank_hard


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def naive(f, pos, neg, tau, k=None):
    total = 0.0
    for i in range(f.shape[0]):
        u = unit(f[i].double())
        sp = float(u @ pos[i].double()) / tau
        sn = sorted((float(u @ n.double()) / tau for n in neg), reverse=True)[: k or len(neg)]
        total += -sp + math.log(math.exp(sp) + sum(math.exp(x) for x in sn))
    return total / f.shape[0]


def test_bank_infonce_and_hard_equal_the_naive_loops():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 5, 4, generator=g)
    pos, neg = unit(torch.randn(2, 5, 4, generator=g)), unit(torch.randn(2, 12, 4, generator=g))
    tau = torch.tensor([0.2, 0.5]).view(2, 1, 1)
    soft = bank_infonce(f, pos, neg, tau)
    hard = bank_infonce(f, pos, neg, tau, hard_fraction=0.25)
    assert n_bank_hard(12, 0.25) == 3 and n_bank_hard(4095, 0.0819) == 336
    for s, t in enumerate([0.2, 0.5]):
        assert abs(float(soft[s]) - naive(f[s], pos[s], neg[s], t)) < 1e-5
        assert abs(float(hard[s]) - naive(f[s], pos[s], neg[s], t, k=3)) < 1e-5


def test_ema_update_moves_only_the_batch_entries_and_keeps_them_unit():
    g = torch.Generator().manual_seed(1)
    bank = unit(torch.randn(2, 6, 3, generator=g))
    before = bank.clone()
    idx = torch.tensor([[0, 4], [5, 1]])
    f = torch.randn(2, 2, 3, generator=g)
    ema_update(bank, idx, f, 0.5)
    for s in range(2):
        for j, n in enumerate(idx[s].tolist()):
            want = unit(0.5 * before[s, n] + 0.5 * unit(f[s, j]))
            torch.testing.assert_close(bank[s, n], want)
        untouched = [n for n in range(6) if n not in idx[s].tolist()]
        assert torch.equal(bank[s, untouched], before[s, untouched])
