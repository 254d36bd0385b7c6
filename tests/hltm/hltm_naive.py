"""Naive per-node reference computations on a TreeNet, shared by the HLTM tests."""

import torch


def naive_forward(net, x: torch.Tensor, s: int, eval_bn: bool = False):
    """Per-node loop (the authors' Model.forward), seed s, sample-major x (B, n_leaves).

    With ``eval_bn`` (and a BN net), each node's pre-activation goes through
    BatchNorm with the running statistics.

    Returns:
        f (B, hid) and {breadth-first node: pre-activation (B, k)}.
    """
    t = net.tree
    outs = {}  # breadth-first node index -> output (pre-activation), (B, k)
    for leaf in range(t.n_latent, t.n_nodes):
        outs[leaf] = x[:, leaf - t.n_latent].unsqueeze(1)
    for level in range(t.depth - 1, -1, -1):
        h = t.depth - level  # height
        for j in range(t.level_size(level)):
            node = t.level_offset(level) + j
            kids = t.level_offset(level + 1) + j * t.num_children + torch.arange(t.num_children)
            inp = torch.cat(
                [outs[int(k)] if h == 1 else torch.relu(outs[int(k)]) for k in kids], dim=1
            )
            pre = inp @ net.weight[h - 1][s, j].T + net.bias[h - 1][s, j]
            if net.bn and eval_bn:
                pre = _bn_eval(net, h, s, j, pre)
            outs[node] = pre
    root = outs[0]
    return root / (root.norm(dim=1, keepdim=True) + net.eps), outs


def _bn_eval(net, h: int, s: int, j: int, pre: torch.Tensor) -> torch.Tensor:
    rm = getattr(net, f"running_mean_{h - 1}")[s, j]
    rv = getattr(net, f"running_var_{h - 1}")[s, j]
    pre = (pre - rm) / torch.sqrt(rv + 1e-5) * net.bn_weight[h - 1][s, j]
    return pre + net.bn_bias[h - 1][s, j]


def naive_root_jacobian(net, x, node, h_node, bn=False):
    """d h_root / d h_node by autograd (seed 0, one sample), written as a per-node loop.

    The naive network is re-run with node ``node``'s pre-activation replaced by an
    input whose value is ``h_node`` (shape (1, hid)). With ``bn``, each node's
    pre-activation goes through BatchNorm with the running statistics (eval mode).

    Returns:
        Shape: (root unit, node unit).
    """
    t = net.tree

    def root_of(hn):
        outs = {leaf: x[:, leaf - t.n_latent].unsqueeze(1) for leaf in range(t.n_latent, t.n_nodes)}
        for level in range(t.depth - 1, -1, -1):
            h = t.depth - level
            for j in range(t.level_size(level)):
                nd = t.level_offset(level) + j
                if nd == node:
                    outs[nd] = hn
                    continue
                kids = t.level_offset(level + 1) + j * t.num_children + torch.arange(t.num_children)
                inp = torch.cat(
                    [outs[int(k)] if h == 1 else torch.relu(outs[int(k)]) for k in kids], dim=1
                )
                pre = inp @ net.weight[h - 1][0, j].T + net.bias[h - 1][0, j]
                if bn:
                    pre = _bn_eval(net, h, 0, j, pre)
                outs[nd] = pre
        return outs[0][0]

    h_node = h_node.detach().clone().requires_grad_(True)
    return torch.autograd.functional.jacobian(root_of, h_node)[:, 0, :]


def feature_major(x: torch.Tensor) -> torch.Tensor:
    """(seed, B, n_leaves) -> the network's input layout (seed, n_leaves, B)."""
    return x.transpose(1, 2).contiguous()


def pre_activations(net, x_fm: torch.Tensor, **kw) -> dict:
    """Every height's pre-activation of ``TreeNet.forward_features`` (copies, by height
    index), Shape (seed, n_h, hid, B)."""
    pre = {}
    with torch.no_grad():
        net.forward_features(x_fm, pre_hook=lambda h, p: pre.__setitem__(h, p.clone()), **kw)
    return pre
