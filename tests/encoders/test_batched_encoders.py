"""The batched conv encoders: each member of a batch equals that member alone (init bit
for bit, outputs and a training step to float tolerance: grouped and ungrouped convolution
kernels sum in different orders), BatchNorm per member, ResNet-18's size."""

import pytest
import torch

from contrastlab.encoders.conv import parameter_count
from contrastlab.encoders.convnet import BatchedConvNet
from contrastlab.encoders.resnet import BatchedResNet18
from contrastlab.utils import generator

SEEDS = [0, 1, 2]


def gens(seeds):
    return [generator(s, "test/init") for s in seeds]


def convnet(seeds):
    return BatchedConvNet(3, 8, channels=(4, 8), embed_dim=6, proj_hidden=10, gens=gens(seeds))


def test_convnet_batched_equals_each_member_alone():
    batched = convnet(SEEDS)
    alone = [convnet([s]) for s in SEEDS]
    x = torch.rand(len(SEEDS), 16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for k, one in enumerate(alone):
        for name, p in one.named().items():
            assert torch.equal(p[0], batched.named()[name][k]), name
    for mode in (True, False):
        batched.train(mode)
        h, z = batched(x)
        for k, one in enumerate(alone):
            one.train(mode)
            hk, zk = one(x[k : k + 1])
            torch.testing.assert_close(h[k : k + 1], hk, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(z[k : k + 1], zk, atol=1e-5, rtol=1e-5)
    # one SGD step on a per-member loss: the same update as alone; running stats too
    batched.train(True)
    loss = (batched(x)[1] * batched(x.flip(1))[1]).sum((1, 2))
    loss.sum().backward()
    for k, one in enumerate(alone):
        one.train(True)
        lk = (one(x[k : k + 1])[1] * one(x[k : k + 1].flip(1))[1]).sum()
        lk.backward()
        for name, p in one.named().items():
            torch.testing.assert_close(p.grad[0], batched.named()[name].grad[k], atol=1e-4,
                                       rtol=1e-4, msg=name)  # fmt: skip
        for name, b in one.buffers().items():
            torch.testing.assert_close(b[0], batched.buffers()[name][k], atol=1e-5, rtol=1e-5)


def test_batchnorm_statistics_are_per_member():
    batched = convnet(SEEDS)
    x = torch.rand(len(SEEDS), 16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    _, z = batched(x)
    y = x.clone()
    y[0] *= 10  # member 0's data only
    _, z2 = batched(y)
    torch.testing.assert_close(z[1:], z2[1:], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(z[0], z2[0])


@pytest.mark.slow
def test_resnet18_cifar_form_has_torchvisions_size_and_shapes():
    net = BatchedResNet18(3, embed_dim=128, proj_hidden=512, gens=gens([0]))
    # torchvision's resnet18 without fc, with the 3x3 stem: 11,689,512 - 513,000 - 9,408 + 1,728
    assert parameter_count(net, backbone_only=True) == 11_168_832
    h, z = net(torch.rand(1, 2, 3, 32, 32))
    assert h.shape == (1, 2, 512) and z.shape == (1, 2, 128)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(1, 2))
