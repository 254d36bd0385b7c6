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


def test_adam_state_dict_resumes_exactly():
    full, _ = _run(lambda ps: Adam(ps, lr=0.01), steps=10)
    half, opt = _run(lambda ps: Adam(ps, lr=0.01), steps=5)
    state = opt.state_dict()
    again = Adam([p.clone().requires_grad_() for p in half], lr=0.01)
    again.load_state_dict(state)
    assert again.t == [5, 5] and all(torch.equal(a, b) for a, b in zip(again.m, opt.m, strict=True))
    with pytest.raises(ValueError, match="state for 2 parameters, not 1"):
        Adam([torch.zeros(1, requires_grad=True)], lr=0.1).load_state_dict(state)
