"""The batched MLP encoder: one network per seed, the same alone or in a batch."""

import torch

from contrastlab.encoders.mlp import BatchedMLP, init_mlp
from contrastlab.engine import streams


def test_init_is_torch_linear_default_and_per_seed():
    gens = streams([0, 1, 2], "temperature", "init")
    params = init_mlp([64, 32, 16, 8], gens)
    assert [tuple(p.shape) for p in params] == [
        (3, 64, 32),
        (3, 32),
        (3, 32, 16),
        (3, 16),
        (3, 16, 8),
        (3, 8),
    ]
    for p, fan_in in zip(params, (64, 64, 32, 32, 16, 16), strict=True):
        assert p.abs().max() <= fan_in**-0.5
    alone = init_mlp([64, 32, 16, 8], streams([1], "temperature", "init"))
    for p, a in zip(params, alone, strict=True):
        assert torch.equal(p[1], a[0])
    assert not torch.equal(params[0][0], params[0][1])


def test_forward_batched_equals_each_seed_alone_and_is_unit_norm():
    seeds = [4, 7, 9]
    model = BatchedMLP(64, 32, 2, 12, streams(seeds, "temperature", "init"))
    x = torch.rand(3, 50, 64, generator=torch.Generator().manual_seed(0))
    z = model(x)
    assert z.shape == (3, 50, 12)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3, 50))
    for i, s in enumerate(seeds):
        one = BatchedMLP(64, 32, 2, 12, streams([s], "temperature", "init"))
        assert torch.equal(one(x[i : i + 1])[0], z[i])
    assert set(model.named()) == {"W0", "b0", "W1", "b1", "W2", "b2"}


def test_linear_encoder_when_depth_is_zero():
    model = BatchedMLP(64, 32, 0, 5, streams([0], "temperature", "init"))
    assert [tuple(p.shape) for p in model.params] == [(1, 64, 5), (1, 5)]
    x = torch.rand(1, 4, 64)
    W, b = model.params
    want = torch.nn.functional.normalize(x @ W + b[:, None], dim=-1)
    torch.testing.assert_close(model(x), want)
