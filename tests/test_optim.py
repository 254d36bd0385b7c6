"""contrastlab.optim's Adam and SGD give torch.optim's numbers, bit for bit on CPU."""

import pytest
import torch

from contrastlab.optim import SGD, Adam


def _run(make, steps=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [
        torch.randn(4, 7, 3, generator=g).requires_grad_(),
        torch.randn(4, 5, generator=g).requires_grad_(),
    ]
    opt = make(params)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = sum((p.sin() * torch.randn(p.shape, generator=g)).sum() for p in params)
        loss.backward()
        opt.step()
    return [p.detach() for p in params], opt


@pytest.mark.parametrize("lr", [0.005, 0.1])
def test_adam_equals_torch_adam_bit_for_bit(lr):
    ours, _ = _run(lambda ps: Adam(ps, lr=lr))
    ref, _ = _run(lambda ps: torch.optim.Adam(ps, lr=lr))
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def test_sgd_equals_torch_sgd_bit_for_bit():
    ours, _ = _run(lambda ps: SGD(ps, lr=0.05))
    ref, _ = _run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.0, weight_decay=0.0))
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("momentum", "wd"), [(0.9, 0.0), (0.0, 5e-4), (0.9, 4e-4)])
def test_sgd_with_momentum_and_weight_decay_equals_torch_sgd_bit_for_bit(momentum, wd):
    ours, _ = _run(lambda ps: SGD(ps, lr=0.03, momentum=momentum, weight_decay=wd))
    ref, _ = _run(
        lambda ps: torch.optim.SGD(ps, lr=0.03, momentum=momentum, weight_decay=wd, foreach=False)
    )
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def test_sgd_momentum_state_dict_resumes_exactly():
    half, opt = _run(lambda ps: SGD(ps, lr=0.03, momentum=0.9, weight_decay=1e-3), steps=5)
    again = SGD([p.clone().requires_grad_() for p in half], lr=0.1)
    again.load_state_dict(opt.state_dict())
    assert (again.lr, again.momentum, again.weight_decay) == (0.03, 0.9, 1e-3)
    assert all(torch.equal(a, b) for a, b in zip(again.buffers, opt.buffers, strict=True))
    # the next step from the restored state equals the next step of the original
    for o in (opt, again):
        for p in o.params:
            p.grad = torch.ones_like(p)
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(opt.params, again.params, strict=True))


def test_adam_state_dict_resumes_exactly():
    full, _ = _run(lambda ps: Adam(ps, lr=0.01), steps=10)
    half, opt = _run(lambda ps: Adam(ps, lr=0.01), steps=5)
    state = opt.state_dict()
    again = Adam([p.clone().requires_grad_() for p in half], lr=0.01)
    again.load_state_dict(state)
    assert again.t == [5, 5] and all(torch.equal(a, b) for a, b in zip(again.m, opt.m, strict=True))
    with pytest.raises(ValueError, match="state for 2 parameters, not 1"):
        Adam([torch.zeros(1, requires_grad=True)], lr=0.1).load_state_dict(state)
