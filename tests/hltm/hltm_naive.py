"""Naive per-node reference computations on a TreeNet, shared by the HLTM tests."""

import torch


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
                    rm = getattr(net, f"running_mean_{h - 1}")[0, j]
                    rv = getattr(net, f"running_var_{h - 1}")[0, j]
                    pre = (pre - rm) / torch.sqrt(rv + 1e-5) * net.bn_weight[h - 1][0, j]
                    pre = pre + net.bn_bias[h - 1][0, j]
                outs[nd] = pre
        return outs[0][0]

    h_node = h_node.detach().clone().requires_grad_(True)
    return torch.autograd.functional.jacobian(root_of, h_node)[:, 0, :]
