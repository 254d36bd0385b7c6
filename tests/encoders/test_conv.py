"""The batched conv encoders (contrastlab.encoders.conv / convnet / resnet).

Batched = each member alone: the init is bit-equal (same draws); on the CPU the forward
pass is bit-equal too (grouped convolutions, BatchNorm over K * C channels and the
``avg_pool2d`` global pool compute every member's channels in the same order as alone;
asserted with ``torch.equal``). The backward pass of a grouped convolution rounds
differently from an ungrouped one (e.g. the first convolution's weight gradient, ~1e-7
abs), so in float32 the trained parameters and running stats agree to FP32_ATOL (seen:
1.1e-6 after 3 SGD steps of the small ConvNet). A rounding difference that flips a
ReLU unit can move a tiny net's gradient by far more (seen: 0.17 in a width-4 ResNet
on 6 images), so the training test of both encoders also runs in float64, where
batched and alone agree to FP64_ATOL (seen: 5e-13). A reference built from torch.nn
modules checks the semantics (layout, BatchNorm, head) of single members in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from contrastlab.encoders.conv import BatchedEncoder, parameter_count, to_grouped
from contrastlab.encoders.convnet import BatchedConvNet
from contrastlab.encoders.resnet import BatchedResNet18

FP32_ATOL = 1e-5  # float32 ConvNet, batched vs alone after 3 SGD steps (seen: 1.1e-6)
FP64_ATOL = 1e-10  # float64 (seen: 5e-13)


def gens(seeds) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(1000 + s) for s in seeds]


def convnet(seeds, **kw) -> BatchedConvNet:
    kw = {"side": 8, "channels": (4, 8), "embed_dim": 6, "proj_hidden": 10, **kw}
    return BatchedConvNet(3, gens=gens(seeds), **kw)


def resnet(seeds, **kw) -> BatchedResNet18:
    kw = {"embed_dim": 6, "proj_hidden": 10, "width": 4, **kw}
    return BatchedResNet18(3, gens=gens(seeds), **kw)


MAKERS = {"convnet": convnet, "resnet": resnet}


def images(K: int, n: int = 6, side: int = 8, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(K, n, 3, side, side, generator=g, dtype=torch.float64).to(dtype)


def shift_loss(z: torch.Tensor) -> torch.Tensor:
    """Mean of z_i . z_{i+1} per member, summed over members."""
    return (z * z.roll(1, dims=1)).sum(-1).mean(-1).sum()


def sgd(enc: BatchedEncoder, xs, lr: float = 0.1) -> None:
    for x in xs:
        shift_loss(enc(x)[1]).backward()
        with torch.no_grad():
            for p in enc.params:
                p -= lr * p.grad
                p.grad = None


@pytest.mark.parametrize("kind", MAKERS)
def test_init_bit_equal_alone_and_batched(kind):
    batched = MAKERS[kind]([0, 1, 2])
    for k in range(3):
        alone = MAKERS[kind]([k])
        assert list(alone.named()) == list(batched.named())
        for name, t in alone.named().items():
            assert torch.equal(batched.named()[name][k], t[0]), name
        for name, t in alone.buffers().items():
            assert torch.equal(batched.buffers()[name][k], t[0]), name
    # different seeds, different weights
    w = batched.named()["head.fc1.weight"]
    assert not torch.equal(w[0], w[1])


@pytest.mark.parametrize("kind", MAKERS)
def test_forward_bit_equal_alone_and_batched(kind):
    batched = MAKERS[kind]([0, 1, 2])
    alone = [MAKERS[kind]([k]) for k in range(3)]
    x = images(3)
    for mode in (True, False, True):  # eval after a train step: non-trivial running stats
        batched.train(mode)
        hb, zb = batched(x)
        for k, enc in enumerate(alone):
            enc.train(mode)
            h, z = enc(x[k : k + 1])
            assert torch.equal(hb[k], h[0]) and torch.equal(zb[k], z[0]), (mode, k)
    for k, enc in enumerate(alone):
        for name, t in enc.buffers().items():
            assert torch.equal(batched.buffers()[name][k], t[0]), name


def test_sgd_steps_batched_equals_alone_float32():
    batched = convnet([0, 1, 2])
    alone = [convnet([k]) for k in range(3)]
    xs = [images(3, seed=s) for s in range(3)]
    sgd(batched, xs)
    for k, enc in enumerate(alone):
        sgd(enc, [x[k : k + 1] for x in xs])
        for name, t in enc.named().items():
            torch.testing.assert_close(batched.named()[name][k], t[0], atol=FP32_ATOL, rtol=0)
        for name, t in enc.buffers().items():
            torch.testing.assert_close(batched.buffers()[name][k], t[0], atol=FP32_ATOL, rtol=0)


@pytest.mark.parametrize("kind", MAKERS)
def test_sgd_steps_batched_equals_alone_float64(kind):
    batched = MAKERS[kind]([0, 1, 2], dtype=torch.float64)
    alone = [MAKERS[kind]([k], dtype=torch.float64) for k in range(3)]
    xs = [images(3, seed=s, dtype=torch.float64) for s in range(3)]
    sgd(batched, xs)
    for k, enc in enumerate(alone):
        sgd(enc, [x[k : k + 1] for x in xs])
        for name, t in enc.named().items():
            torch.testing.assert_close(batched.named()[name][k], t[0], atol=FP64_ATOL, rtol=0)
        for name, t in enc.buffers().items():
            torch.testing.assert_close(batched.buffers()[name][k], t[0], atol=FP64_ATOL, rtol=0)


@pytest.mark.parametrize("kind", MAKERS)
def test_batchnorm_statistics_per_member(kind):
    """Member 0's inputs scaled by 10 leave member 1's outputs and stats unchanged.

    (Member 0's own outputs barely move: bias-free conv + BN is scale-invariant; its
    first BN's running mean is 10x.)
    """
    x = images(2)
    ref = MAKERS[kind]([0, 1])
    h_ref, z_ref = ref(x)
    scaled = MAKERS[kind]([0, 1])
    x2 = x.clone()
    x2[0] *= 10
    h, z = scaled(x2)
    assert torch.equal(h[1], h_ref[1]) and torch.equal(z[1], z_ref[1])
    for name, t in scaled.buffers().items():
        assert torch.equal(t[1], ref.buffers()[name][1]), name
    first = "stages.0.bn" if kind == "convnet" else "bn1"
    mean, mean_ref = (e.buffers()[f"{first}.running_mean"][0] for e in (scaled, ref))
    torch.testing.assert_close(mean, 10 * mean_ref)
    torch.testing.assert_close(h[0], h_ref[0], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("kind", MAKERS)
def test_train_eval_switch(kind):
    enc = MAKERS[kind]([0, 1])
    x = images(2)
    before = {n: t.clone() for n, t in enc.buffers().items()}
    enc.train(False)
    h0, z0 = enc(x)
    for n, t in enc.buffers().items():  # eval: running stats untouched
        assert torch.equal(t, before[n]), n
    # eval at init (mean 0, var 1) is ~identity BN; train normalises by the batch
    enc.train(True)
    h1, z1 = enc(x)
    assert not torch.allclose(h0, h1, atol=1e-3)
    for n, t in enc.buffers().items():  # train: every running stat moved
        assert not torch.equal(t, before[n]), n
    enc.eval()
    assert not enc.training
    h2, _ = enc(x)
    assert not torch.allclose(h2, h0, atol=1e-6)  # eval now uses the updated stats


def test_running_stats_match_torch_batchnorm():
    """Momentum 0.1, unbiased running variance, eps 1e-5: torch.nn.BatchNorm2d's."""
    enc = convnet([0, 1], channels=(5,))
    x = images(2)
    bn = nn.BatchNorm2d(5)
    w = enc.named()["stages.0.conv.weight"][1].detach()
    for _ in range(2):
        enc(x)
        bn(F.conv2d(x[1], w, padding=1))
        buf = enc.buffers()
        torch.testing.assert_close(buf["stages.0.bn.running_mean"][1], bn.running_mean)
        torch.testing.assert_close(buf["stages.0.bn.running_var"][1], bn.running_var)


def test_gradients_reach_every_parameter():
    for enc in (
        convnet([0, 1]),
        convnet([0, 1], bn=False),
        convnet([0, 1], proj_hidden=0),
        resnet([0, 1]),
        resnet([0, 1], proj_hidden=0),
    ):
        shift_loss(enc(images(2))[1]).backward()
        for name, p in enc.named().items():
            assert p.grad is not None, name
            for k in range(2):
                assert p.grad[k].abs().sum() > 0, (name, k)


def test_convnet_structure():
    enc = convnet([0], channels=(4, 8, 16), side=4)
    assert enc.pools == [True, True, False]  # 4 -> 2 -> 1, no pool of a 1x1 map
    h, z = enc(images(1, side=4))
    assert h.shape == (1, 6, 16) and z.shape == (1, 6, 6)
    assert enc.feat_dim == 16 and enc.embed_dim == 6
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(1, 6))
    no_bn = convnet([0], bn=False)
    assert "stages.0.conv.bias" in no_bn.named() and "stages.0.bn.weight" not in no_bn.named()
    assert list(no_bn.buffers()) == ["head.bn.running_mean", "head.bn.running_var"]
    linear = convnet([0], proj_hidden=0)
    assert [n for n in linear.named() if n.startswith("head.")] == [
        "head.fc.weight",
        "head.fc.bias",
    ]
    assert "head.bn.running_mean" not in linear.buffers()
    # per member: 3*4*9 + 2*4 + 4*8*9 + 2*8 (backbone) + 8*10 + 2*10 + 10*6 + 6 (head)
    assert parameter_count(enc) == sum(t[0].numel() for t in enc.named().values())
    assert parameter_count(convnet([0, 1])) == 108 + 8 + 288 + 16 + 80 + 20 + 60 + 6


def test_shared_batch_is_repeated():
    enc = convnet([0, 1])
    x = images(1)[0]
    h, z = enc(x)
    h2, z2 = enc(x.expand(2, *x.shape))
    assert torch.equal(h, h2) and torch.equal(z, z2)
    with pytest.raises(ValueError):
        enc(images(3))


def test_grouped_layout():
    x = images(3, n=2, side=4)
    for cl in (True, False):
        y = to_grouped(x, 3, channels_last=cl)
        assert y.shape == (2, 9, 4, 4)
        assert torch.equal(y[:, 3:6], x[1])
        assert y.is_contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
    assert to_grouped(x[:1], 1).is_contiguous(memory_format=torch.channels_last)


# -- semantics: one member against torch.nn modules ----------------------------------------


def _linear(w: torch.Tensor, b: torch.Tensor | None) -> nn.Linear:
    lin = nn.Linear(*w.shape, bias=b is not None, dtype=w.dtype)
    lin.weight.data.copy_(w.T)
    if b is not None:
        lin.bias.data.copy_(b)
    return lin


def _bn(cls, p: dict, name: str) -> nn.Module:
    bn = cls(p[f"{name}.weight"].shape[0], dtype=p[f"{name}.weight"].dtype)
    bn.weight.data.copy_(p[f"{name}.weight"])
    bn.bias.data.copy_(p[f"{name}.bias"])
    return bn


def _conv(p: dict, name: str, stride: int = 1, padding: int = 1) -> nn.Conv2d:
    w = p[f"{name}.weight"]
    conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride, padding, bias=False, dtype=w.dtype)
    conv.weight.data.copy_(w)
    return conv


def _head(p: dict) -> nn.Module:
    if "head.fc.weight" in p:
        return _linear(p["head.fc.weight"], p["head.fc.bias"])
    return nn.Sequential(
        _linear(p["head.fc1.weight"], None),
        _bn(nn.BatchNorm1d, p, "head.bn"),
        nn.ReLU(),
        _linear(p["head.fc2.weight"], p["head.fc2.bias"]),
    )


class _Block(nn.Module):
    def __init__(self, p: dict, name: str, stride: int):
        super().__init__()
        self.c1, self.b1 = _conv(p, f"{name}.conv1", stride), _bn(nn.BatchNorm2d, p, f"{name}.bn1")
        self.c2, self.b2 = _conv(p, f"{name}.conv2"), _bn(nn.BatchNorm2d, p, f"{name}.bn2")
        self.down = None
        if f"{name}.downsample.0.weight" in p:
            self.down = nn.Sequential(
                _conv(p, f"{name}.downsample.0", stride, 0),
                _bn(nn.BatchNorm2d, p, f"{name}.downsample.1"),
            )

    def forward(self, x):
        out = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(out + (x if self.down is None else self.down(x)))


def _reference(enc: BatchedEncoder, k: int) -> tuple[nn.Module, nn.Module]:
    p = {n: t[k].detach() for n, t in enc.named().items()}
    if isinstance(enc, BatchedConvNet):
        layers = []
        for i, pool in enumerate(enc.pools):
            layers += [_conv(p, f"stages.{i}.conv"), _bn(nn.BatchNorm2d, p, f"stages.{i}.bn")]
            layers += [nn.ReLU()] + ([nn.MaxPool2d(2)] if pool else [])
        backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    else:
        layers = [_conv(p, "conv1"), _bn(nn.BatchNorm2d, p, "bn1"), nn.ReLU()]
        layers += [_Block(p, name, stride) for name, stride, _ in enc.blocks]
        backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return backbone, _head(p)


@pytest.mark.parametrize("kind", MAKERS)
def test_member_matches_torch_nn_reference(kind):
    enc = MAKERS[kind]([0, 1], dtype=torch.float64)
    x = images(2, dtype=torch.float64)
    refs = [_reference(enc, k) for k in range(2)]
    for mode in (True, False):
        enc.train(mode)
        h, z = enc(x)
        for k, (backbone, head) in enumerate(refs):
            backbone.train(mode)
            head.train(mode)
            h_ref = backbone(x[k])
            z_ref = F.normalize(head(h_ref), dim=-1)
            torch.testing.assert_close(h[k], h_ref, atol=1e-12, rtol=1e-10)
            torch.testing.assert_close(z[k], z_ref, atol=1e-12, rtol=1e-10)
    # running stats equal torch's after the train-mode pass
    backbone, _ = refs[1]
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    ours = [n[: -len(".running_mean")] for n in enc.buffers() if n.endswith(".running_mean")]
    ours = [n for n in ours if not n.startswith("head.")]
    assert len(bns) == len(ours)
    for bn, name in zip(bns, ours, strict=True):
        torch.testing.assert_close(enc.buffers()[f"{name}.running_mean"][1], bn.running_mean)
        torch.testing.assert_close(enc.buffers()[f"{name}.running_var"][1], bn.running_var)


def test_resnet18_cifar_parameter_count_and_shapes():
    enc = BatchedResNet18(gens=gens([0]))
    # torchvision resnet18 - fc - 7x7 stem + 3x3 stem
    assert parameter_count(enc, backbone_only=True) == 11_689_512 - 513_000 - 9_408 + 1_728
    assert parameter_count(enc) == 11_168_832 + 512 * 512 + 2 * 512 + 512 * 128 + 128
    assert enc.feat_dim == 512 and enc.embed_dim == 128
    names = enc.named()
    assert names["conv1.weight"].shape == (1, 64, 3, 3, 3)
    assert names["layer2.0.downsample.0.weight"].shape == (1, 128, 64, 1, 1)
    assert "layer1.0.downsample.0.weight" not in names
    assert names["layer4.1.conv2.weight"].shape == (1, 512, 512, 3, 3)
    assert len([n for n in enc.buffers() if n.endswith("running_mean")]) == 20 + 1
    with torch.no_grad():
        h, z = enc(torch.randn(1, 2, 3, 32, 32))
    assert h.shape == (1, 2, 512) and z.shape == (1, 2, 128)


def test_kaiming_init_scale():
    """Conv weights ~ N(0, 2 / fan_out); linear ~ U(+-1/sqrt(fan_in)); BN 1 and 0."""
    enc = BatchedResNet18(embed_dim=16, proj_hidden=32, width=16, gens=gens([0, 1]))
    w = enc.named()["layer3.1.conv2.weight"]  # (2, 64, 64, 3, 3): fan_out 576
    assert abs(w.std().item() - (2 / 576) ** 0.5) < 0.02 * (2 / 576) ** 0.5
    fc = enc.named()["head.fc1.weight"]  # fan_in 128
    assert fc.abs().max() <= 128**-0.5 and fc.abs().max() > 0.99 * 128**-0.5
    assert torch.equal(enc.named()["bn1.weight"], torch.ones(2, 16))
    assert torch.equal(enc.named()["bn1.bias"], torch.zeros(2, 16))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = images(2)
    for kind in MAKERS:
        cpu = MAKERS[kind]([0, 1])
        gpu = MAKERS[kind]([0, 1], device="cuda")
        assert all(t.device.type == "cuda" for t in gpu.params)
        h, z = cpu(x)
        hg, zg = gpu(x.cuda())
        torch.testing.assert_close(hg.cpu(), h, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(zg.cpu(), z, atol=1e-4, rtol=1e-4)
        for n, t in cpu.buffers().items():
            torch.testing.assert_close(gpu.buffers()[n].cpu(), t, atol=1e-4, rtol=1e-4)
