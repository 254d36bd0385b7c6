"""Per-epoch metrics of the HLTM experiment: best correlation and covariance operator.

Both are computed, as in the authors' code, on all samples of an epoch with
the parameters frozen (before that epoch's training), streaming over chunks.

Best correlation [code: ``StatsCorr`` + ``corr_summary``]. For latent node mu
and each of its ``hid`` pre-activation units u, the Pearson correlation over
the epoch's anchors between z_mu in {0, 1} and h_mu,u(x); best corr =
max_u |corr|. A unit (or latent) with zero variance has correlation 0 (the
code sets 0/0 to 0). Sums are accumulated in float64 around a per-unit shift
(the first sample's value), so a constant unit gives exactly 0.

Covariance operator [code: ``computeJ`` and the ``connections`` loop]. For
node mu with layer input a(x) (ReLU of its children's outputs, Shape (in,))
and J_mu(x) = d h_root / d h_mu (ReLU-gated, Shape (hid_root, hid)):

    K_mu(x)[a, r, c] = a_a(x) J_mu(x)[r, c]
    Kbar_k = mean of K_mu over the anchors whose root z_0 = k   (k = 0, 1)
    Kbar   = p_0 Kbar_0 + p_1 Kbar_1,   p_k = n_k / n
    Cov    = sum_k p_k (Kbar_k - Kbar)(Kbar_k - Kbar)^T

``cov_op_norm`` is |Cov|_F with the code's unfolding of K: rows (a, r) and
columns c, i.e. Cov is (in*hid_root) x (in*hid_root), contracted over the
node's own units c. ``cov_op_norm_paper`` uses the paper's K_l = f_{l-1} (x)
J_l^T (Tian et al. 2020, Theorem 1): rows (a, c), columns r, contracted over
the root's units r. Both coincide for the root (J = I) and differ elsewhere.

With two classes Cov = p_0 p_1 D D^T with D = Kbar_1 - Kbar_0, and
|D D^T|_F = |D^T D|_F, so only D (one weighted sum over samples) and a small
Gram matrix are needed; the tests check this against the explicit formula.

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py and
      ssl/common_utils/stats.py (StatsCorr, corr_summary)
"""

from __future__ import annotations

import torch

from contrastlab.families.hltm.data import LatentTree
from contrastlab.families.hltm.model import TreeNet
from contrastlab.metrics.correlation import pearson_best_corr  # noqa: F401 (re-export)


class EpochMetrics:
    """Streaming accumulators of one epoch's metrics for a batch of seeds.

    Args:
        model: the network (read for the Jacobians).
        label_counts: number of anchors with root 0 and 1 in the whole
            epoch, per seed (needed up front for the class-mean difference).
            Shape: (seed, 2).
    """

    def __init__(self, model: TreeNet, label_counts: torch.Tensor) -> None:
        self.model = model
        self.tree: LatentTree = model.tree
        self.device = model.weight[0].device
        counts = torch.as_tensor(label_counts, dtype=torch.float64, device=self.device)
        self.n_class = counts  # (seed, 2)
        # weight per anchor of class k in D = Kbar_1 - Kbar_0: -1/n_0 or +1/n_1 (0 if empty)
        self._w = torch.where(counts > 0, 1.0 / counts.clamp(min=1), 0.0) * torch.tensor(
            [-1.0, 1.0], dtype=torch.float64, device=self.device
        )
        self.n = 0
        S, o = model.n_seeds, model.hid
        f64 = {"dtype": torch.float64, "device": self.device}
        nh, ih = model.n_nodes, model.in_dims
        L = self.tree.depth
        self._shift: list[torch.Tensor | None] = [None] * L
        self._sz = [torch.zeros(S, nh[h], **f64) for h in range(L)]  # sum z
        self._sh = [torch.zeros(S, nh[h], o, **f64) for h in range(L)]  # sum (h - shift)
        self._shh = [torch.zeros(S, nh[h], o, **f64) for h in range(L)]  # sum (h - shift)^2
        self._szh = [torch.zeros(S, nh[h], o, **f64) for h in range(L)]  # sum z (h - shift)
        # D = Kbar_1 - Kbar_0 per node, (seed, n_h, in, hid_root, hid)
        self._D = [torch.zeros(S, nh[h], ih[h], o, o, **f64) for h in range(L)]

    @torch.no_grad()
    def add_correlation(self, h: int, z: torch.Tensor, pre: torch.Tensor) -> None:
        """Accumulate the correlation sums of one height for a chunk.

        Args:
            h: 0-based height index (height h + 1).
            z: the nodes' latent values. Shape: (seed, n_h, C).
            pre: the nodes' pre-activations. Shape: (seed, n_h, C, hid).
        """
        S, n, C, o = pre.shape
        pre = pre.double()  # float32 chunk sums would cost ~1e-5 relative accuracy
        z = z.to(pre.dtype)
        if self._shift[h] is None:
            self._shift[h] = pre[:, :, :1].clone()  # first sample, (seed, n_h, 1, hid)
        hc = pre - self._shift[h]
        self._sz[h] += z.sum(2)
        self._sh[h] += hc.sum(2)
        self._shh[h] += hc.square().sum(2)
        zh = torch.bmm(z.reshape(S * n, 1, C), hc.reshape(S * n, C, o))  # sum_i z_i hc_i
        self._szh[h] += zh.view(S, n, o)

    def _add_D(self, h: int, nodes: slice, inp: torch.Tensor, J: torch.Tensor, w) -> None:
        """D[h][nodes] += sum_i w_i a_i (x) J_i, one bmm over (seed, node)."""
        S, n, C, a = inp.shape
        o = J.shape[-1]
        wa = (inp * w[:, None, :, None]).reshape(S * n, C, a)  # weighted inputs
        D = torch.bmm(wa.transpose(1, 2), J.reshape(S * n, C, o * o))  # (S*n, in, r*c)
        self._D[h][:, nodes] += D.view(S, n, a, o, o)

    def _add_D_lowest(
        self, J: torch.Tensor | None, pre: torch.Tensor, inp: torch.Tensor, w: torch.Tensor
    ) -> None:
        """D of the height-1 nodes from their parents' Jacobians (no child Jacobian built).

        With J_c = (J_p W_k) diag(g_c) for child k of parent p (gate g_c =
        1[h_c > 0]) and a_c the child's input:

            D_c[a, r, c] = sum_o W_k[o, c] T[a, c, r, o],
            T[a, c, r, o] = sum_i w_i a_{c,i}[a] g_{c,i}[c] J_{p,i}[r, o],

        one (b * in * hid) x C by C x (hid_root * hid) GEMM per parent. For
        the lowest latents in = b (raw leaves), so T is small and this beats
        materialising J_c (a K = hid GEMM plus a gating pass, both slow on CPU).

        Args:
            J: parents' Jacobians (None: the parent is the root, J = I).
                Shape: (seed, n_2, C, hid_root, hid).
            pre, inp: pre-activations and inputs of the height-1 nodes
                (node-major). Shapes: (seed, n_1, C, hid), (seed, n_1, C, in).
            w: per-anchor weights of D. Shape: (seed, C).
        """
        model = self.model
        S, n1, C, o = pre.shape
        b = self.tree.num_children
        a = inp.shape[-1]
        n2 = n1 // b
        if J is None:
            J = torch.eye(o, dtype=pre.dtype, device=pre.device).expand(S, n2, C, o, o)
        gate = (pre > 0).to(pre.dtype).view(S, n2, b, C, o).transpose(3, 4)  # (S,p,k,c,C)
        wa = (inp * w[:, None, :, None]).view(S, n2, b, C, a).transpose(3, 4)  # (S,p,k,a,C)
        V = torch.empty(S, n2, b, a, o, C, dtype=pre.dtype, device=pre.device)
        torch.mul(wa[:, :, :, :, None], gate[:, :, :, None], out=V)  # (S, p, k, a, c, C)
        T = torch.bmm(V.view(S * n2, b * a * o, C), J.reshape(S * n2, C, o * o))
        T = T.view(S, n2, b, a, o, o, o)  # (S, p, k, a, c, r, out)
        h = 1  # parents' height index
        W = model.weight[h].detach()
        if model.bn:
            W = W * model._bn_eval_scale_shift(h)[0][..., None]
        Wk = W.view(S, n2, o, b, o)  # (S, p, out, k, c)
        D = torch.einsum("spkacro,spokc->spkarc", T, Wk)
        self._D[0] += D.reshape(S, n1, a, o, o)

    @torch.no_grad()
    def update(self, z_nodes: torch.Tensor, x: torch.Tensor, with_cov: bool = True) -> None:
        """Add one chunk of anchors.

        Args:
            z_nodes: latent values of the chunk's anchors, node-major
                (breadth-first, latents first). Shape: (seed, >= n_latent, C).
            x: the chunk's inputs. Shape: (seed, C, n_leaves).
            with_cov: also accumulate the covariance operator (False: only
                the correlations; the label counts must then exclude this chunk).
        """
        model, tree = self.model, self.tree
        out = model.forward_nodes(x)
        w = torch.where(z_nodes[:, 0], self._w[:, 1:], self._w[:, :1])  # (seed, C), f64
        w = w.to(out.pre[0].dtype)
        self.n += x.shape[1]
        J = None  # Jacobians of the current height, top-down; None = root (identity)
        for h in range(tree.depth - 1, -1, -1):
            z = z_nodes[:, tree.height_slice(h + 1)]  # (seed, n_h, C)
            self.add_correlation(h, z, out.pre[h])
            if not with_cov:
                continue
            # -- covariance operator: D += sum_i w_i a_i (x) J_i -------------------
            root = h == tree.depth - 1
            if root:  # J = I: D[a, r, c] = u[a] delta_rc, u = sum_i w_i a_i
                u = (out.inputs[h] * w[:, None, :, None]).sum(2)  # (seed, 1, in)
                eye = torch.eye(model.hid, dtype=u.dtype, device=u.device)
                self._D[h] += u[..., None, None] * eye
            elif h > 0:  # (height-1 nodes were done in groups at the previous height)
                self._add_D(h, slice(None), out.inputs[h], J, w)
            if h == 1:  # children = the lowest latents: D without their Jacobians
                self._add_D_lowest(J, out.pre[0], out.inputs[0], w)
            elif h > 1:
                J = model.child_jacobian(h, None if root else J, out.pre[h - 1])

    def _per_height_to_nodes(self, per_height: list[torch.Tensor]) -> torch.Tensor:
        """Concatenate (seed, n_h) tensors of heights 1..L into breadth-first order."""
        return torch.cat(per_height[::-1], dim=1)

    @torch.no_grad()
    def result(self) -> dict[str, torch.Tensor]:
        """The epoch's metrics (float64, on CPU).

        Returns:
            ``best_corr``, ``cov_op_norm``, ``cov_op_norm_paper`` (each Shape:
            (seed, n_latent), breadth-first) and ``best_corr_height`` (Shape:
            (seed, L), heights 1..L).
        """
        if self.n == 0:
            raise RuntimeError("no samples were added")
        n = float(self.n)
        best, cov_code, cov_paper = [], [], []
        p = self.n_class / self.n_class.sum(1, keepdim=True)  # (seed, 2)
        pp = (p[:, 0] * p[:, 1])[:, None]  # (seed, 1)
        for h in range(self.tree.depth):
            mz = self._sz[h] / n  # (seed, n_h)
            mh = self._sh[h] / n  # (seed, n_h, hid)
            cov = self._szh[h] / n - mz[..., None] * mh
            vz = (mz * (1 - mz)).clamp(min=0)  # z binary: E[z^2] = E[z]
            vh = (self._shh[h] / n - mh.square()).clamp(min=0)
            denom = torch.sqrt(vz[..., None] * vh)
            ok = denom > 0
            corr = torch.where(ok, cov / torch.where(ok, denom, 1.0), 0.0)
            best.append(corr.abs().clamp(max=1).amax(-1))
            D = self._D[h]  # (seed, n_h, a, r, c)
            G_code = torch.einsum("snarc,snard->sncd", D, D)  # rows (a, r): contract a, r
            G_paper = torch.einsum("snarc,snaqc->snrq", D, D)  # rows (a, c): contract a, c
            cov_code.append(pp * torch.linalg.matrix_norm(G_code))
            cov_paper.append(pp * torch.linalg.matrix_norm(G_paper))
        return {
            "best_corr": self._per_height_to_nodes(best).cpu(),
            "best_corr_height": torch.stack([b.mean(1) for b in best], dim=1).cpu(),
            "cov_op_norm": self._per_height_to_nodes(cov_code).cpu(),
            "cov_op_norm_paper": self._per_height_to_nodes(cov_paper).cpu(),
        }


@torch.no_grad()
def evaluate_epoch(
    model: TreeNet,
    z: torch.Tensor,
    x: torch.Tensor,
    chunk: int = 512,
    cov_samples: int | None = None,
) -> dict[str, torch.Tensor]:
    """All metrics of one epoch with frozen parameters (BN in eval mode).

    Args:
        model: the network (all seeds).
        z: the anchors' node values (latents first, bool). Shape: (seed, N, >= n_latent).
        x: the anchors' inputs. Shape: (seed, N, n_leaves).
        chunk: anchors per forward pass (memory ~ seed * chunk * 12 kB at hid 10;
            small chunks keep the Jacobians in cache, which is faster on CPU).
        cov_samples: compute the covariance operator on the first
            ``cov_samples`` anchors only (rounded up to whole chunks; None = all,
            as the authors' code). It is the costly metric; fewer samples add
            estimation noise, which biases its norm upwards.

    Returns:
        :meth:`EpochMetrics.result` plus ``weight_norm`` (Shape: (seed, n_latent)).
    """
    zt = z.transpose(1, 2)  # (seed, nodes, N); a contiguous-rows view for Triplets
    N = zt.shape[2]
    n_cov = N if cov_samples is None else min(N, -(-cov_samples // chunk) * chunk)
    n1 = zt[:, 0, :n_cov].sum(1, dtype=torch.float64)
    counts = torch.stack([n_cov - n1, n1], dim=1)  # (seed, 2)
    acc = EpochMetrics(model, counts)
    for i in range(0, N, chunk):
        acc.update(zt[:, :, i : i + chunk], x[:, i : i + chunk], with_cov=i < n_cov)
    res = acc.result()
    res["weight_norm"] = model.weight_norms().double().cpu()
    return res
