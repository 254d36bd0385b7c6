"""Per-epoch metrics of the HLTM experiment: best correlation and covariance operator.

Both are computed, as in the authors' code, on all samples of an epoch with
the parameters frozen (before that epoch's training), streaming over chunks
of anchors in the network's feature-major layout (:mod:`.model`), one seed
at a time: a seed's working set (its activations and Jacobians for a chunk)
stays in the CPU cache, and its numbers do not depend on the other seeds.

Best correlation [code: ``StatsCorr`` + ``corr_summary``]. For latent node mu
and each of its ``hid`` pre-activation units u, the Pearson correlation over
the epoch's anchors between z_mu in {0, 1} and h_mu,u(x); best corr =
max_u |corr|. A unit (or latent) with zero variance has correlation 0 (the
code sets 0/0 to 0). The sums are taken around a per-unit shift (the first
anchor's value), so a constant unit gives exactly 0: within a chunk in
float32 GEMMs (sum hc, sum (z - 1/2) hc and the Gram matrix of hc; error
~1e-7 of best corr, far below its sampling error), across chunks in float64.

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
D is a bmm over the nodes per chunk, J (hid * hid_root, C) @ (w a)^T (C, in),
with the Jacobians built top-down (:meth:`TreeNet.child_jacobian`).

Binary trees: heights 1 and 2 are functions of each height-2 node's leaf
pattern (:class:`~contrastlab.families.hltm.model.LeafPatterns`). Their
correlation sums then only need, per pattern, the number of anchors and the
sums of the latents (exact integers), and their D only the per-pattern sums
of w_i J_i of the height-3 nodes (the Jacobians below are those times
pattern-determined weights and gates); both are accumulated per chunk and
combined with the per-pattern activations once, in :meth:`EpochMetrics.result`.

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py and
      ssl/common_utils/stats.py (StatsCorr, corr_summary)
"""

from __future__ import annotations

import torch

from contrastlab.families.hltm.data import LatentTree
from contrastlab.families.hltm.model import LeafPatterns, TreeNet
from contrastlab.metrics.correlation import pearson_best_corr  # noqa: F401 (re-export)


class EpochMetrics:
    """Streaming accumulators of one epoch's metrics for a batch of seeds.

    Per-node tensors are in breadth-first node order (the latents of
    :class:`~contrastlab.families.hltm.data.LatentTree`, root first), the
    layout of the sampler's bits, so a chunk's latents line up with its
    activations. The heights from index ``lo`` up run per anchor (lo = 2 with
    leaf patterns, else 0): their nodes are the first ``n_rows`` latents.
    What serves all seeds of a chunk at once (casts, pattern codes and sums,
    weights) is done once per chunk; the network's passes run seed by seed.

    Args:
        model: the network (read for the forward pass and the Jacobians).
        label_counts: number of anchors with root 0 and 1 among those that
            enter the covariance operator, per seed (needed up front for the
            class-mean difference). Shape: (seed, 2).
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
        t, S, o = self.tree, model.n_seeds, model.hid
        L, b = t.depth, t.num_children
        f64 = {"dtype": torch.float64, "device": self.device}
        self.patterns = LeafPatterns(t) if LeafPatterns.applies(t) else None
        self.lo = 0 if self.patterns is None else 2
        self.n_rows = n = t.level_offset(L - self.lo)  # latents of the heights run per anchor
        self._shift = torch.zeros(S, n, o, 1, device=self.device)  # first anchor's pre
        self._sz = torch.zeros(S, n, **f64)  # sum z
        self._sums = torch.zeros(S, n, o, 2, **f64)  # sum (h - shift), sum (z - 1/2)(h - shift)
        self._gram = torch.zeros(S, n, o, o, **f64)  # sum (h - shift)(h - shift)^T
        # D = Kbar_1 - Kbar_0 per node of the heights run per anchor, (seed, n_h, hid c,
        # hid_root r, in a)
        nh, ih = model.n_nodes, model.in_dims
        self._D = {h: torch.zeros(S, nh[h], o, o, ih[h], **f64) for h in range(self.lo, L)}
        if self.patterns is not None:
            P, n2 = self.patterns.n_patterns, self.patterns.n_nodes
            # per height-2 node and pattern: anchors, sum of its z, sums of its children's z
            self._pattern_sums = torch.zeros(S, n2, 2 + b, P, **f64)
            self._first_code = torch.zeros(S, n2, dtype=torch.long, device=self.device)
            # per-pattern sums of w J of the height-3 nodes, (seed, n_3, hid, hid_root, b, P)
            # (the height-2 node's child-k pattern); without height 3: of w, (seed, 1, P)
            shape = (S, nh[2], o, o, b, P) if L > 2 else (S, 1, P)
            self._wJ = torch.zeros(*shape, **f64)
        self._shift_h = [self._heights(self._shift[s]) for s in range(S)]
        self._work: dict[int, dict] = {}
        self._table: list[torch.Tensor] | None = None

    def _buffers(self, C: int) -> dict:
        """Work tensors for chunks of C anchors, reused across chunks and seeds (fresh
        multi-MB tensors would cost page faults on every chunk), and views of them."""
        if C not in self._work:
            t, o, S = self.tree, self.model.hid, self.model.n_seeds
            kw = {"device": self.device}
            # outputs kept per anchor: the heights run per anchor, and height 2 below them
            n_out = t.level_offset(t.depth - max(self.lo - 1, 0))
            work = {
                "values": torch.empty(S, t.n_nodes, C, **kw),  # node values as floats
                "z": torch.empty(S, self.n_rows, 2, C, **kw),  # [1, z - 1/2]
                "out": torch.empty(n_out, o, C, **kw),  # one seed's outputs, breadth-first
                "w_out": torch.empty(n_out, o, C, **kw),  # w * out
                "hc": torch.empty(self.n_rows, o, C, **kw),  # pre-activations - shift
            }
            work["z"][:, :, 0] = 1
            work["hc_h"] = self._heights(work["hc"])
            work["out_h"] = [v if v is None else v[None] for v in self._heights(work["out"])]
            work["w_out_h"] = self._heights(work["w_out"])
            for h in range(self.lo, t.depth - 1):  # Jacobians below the root
                work[f"J{h}"] = torch.empty(1, t.height_size(h + 1), o, o, C, **kw)
            if self.patterns is not None:
                b, n2 = t.num_children, self.patterns.n_nodes
                work["latents"] = torch.empty(S, n2, 2 + b, C, **kw)  # [1, z, children's z]
                work["latents"][:, :, 0] = 1
                work["w_onehot"] = torch.empty(n2, self.patterns.n_patterns, C, **kw)
            self._work[C] = work
        return self._work[C]

    def _heights(self, t: torch.Tensor) -> list[torch.Tensor | None]:
        """Views of a breadth-first per-latent tensor by height index (height h + 1), for
        the heights whose rows it holds (the others are None)."""
        tree, rows = self.tree, t.shape[0]
        views = []
        for h in range(tree.depth):
            sl = tree.height_slice(h + 1)
            views.append(t[sl] if sl.stop <= rows else None)
        return views

    def _pattern_table(self, pre: dict | None = None) -> list[torch.Tensor]:
        """Heights 1 and 2 on the leaf patterns, all seeds (the weights are frozen).

        Args:
            pre: if given, receives their pre-activations by height index.

        Returns:
            Their outputs. Each Shape: (seed, n_h, hid, n_patterns).
        """
        x_pat = self.patterns.leaves(self.model.n_seeds, self.device)

        def keep(h: int, p: torch.Tensor) -> None:
            if pre is not None:
                pre[h] = p.clone()

        return self.model.forward_features(x_pat, pre_hook=keep, heights=range(2))

    @torch.no_grad()
    def update(self, nodes: torch.Tensor, with_cov: bool = True) -> None:
        """Add one chunk of anchors.

        Args:
            nodes: the chunk's node values, node-major (breadth-first, latents
                then leaves; the leaves are the network input). Shape:
                (seed, n_nodes, C), bool.
            with_cov: also accumulate the covariance operator (False: only
                the correlations; the label counts must then exclude this chunk).
        """
        t, pat = self.tree, self.patterns
        first = self.n == 0
        S, _, C = nodes.shape
        self.n += C
        buf = self._buffers(C)
        values = buf["values"][:S]
        values.copy_(nodes.view(torch.uint8))  # as floats (a cast from uint8 is fast)
        z = values[:, : self.n_rows]
        self._sz += z.sum(-1)
        torch.sub(z, 0.5, out=buf["z"][:S, :, 1])
        leaves = values[:, t.n_latent :]
        codes = None
        if pat is not None:
            if self._table is None:
                self._table = self._pattern_table()
            codes = pat.codes(leaves)  # (S, n_2, 1, C)
            self._add_pattern_sums(values, codes, first)
        w = torch.where(nodes[:, 0], self._w[:, 1:], self._w[:, :1]).float() if with_cov else None
        for s in range(S):
            inp = leaves[s : s + 1] if pat is None else codes[s : s + 1]
            self._update_seed(s, inp, buf, first, None if w is None else w[s])

    def _update_seed(
        self, s: int, inp: torch.Tensor, buf: dict, first: bool, w: torch.Tensor | None
    ) -> None:
        """One seed's chunk: forward pass, correlation sums, covariance operator.

        Args:
            s: the seed's index.
            inp: its leaves (Shape (1, n_leaves, C)), or with leaf patterns its
                pattern codes (:meth:`LeafPatterns.codes`).
            buf: the work tensors.
            first: the epoch's first chunk (sets the shifts).
            w: per-anchor weights of D (Shape (C,)), None: no covariance operator.
        """
        shift, hc = self._shift_h[s], buf["hc_h"]

        def subtract_shift(h: int, pre: torch.Tensor) -> None:
            if first:
                shift[h].copy_(pre[0, ..., :1])
            torch.sub(pre[0], shift[h], out=hc[h])

        seed, outs, codes = slice(s, s + 1), buf["out_h"], None
        if self.patterns is not None:  # height 2: each anchor's column of the pattern table
            codes, inp = inp, self.patterns.select(self._table[1][seed], inp, out=outs[1])
        self.model.forward_features(
            inp,
            seed,
            pre_hook=subtract_shift,
            out=outs[self.lo :],
            heights=range(self.lo, self.tree.depth),
        )
        # correlation sums: sum (h - shift) [z - 1/2 column: see result()], Gram matrix
        self._sums[s] += torch.bmm(buf["hc"], buf["z"][s].transpose(1, 2))
        self._gram[s] += torch.bmm(buf["hc"], buf["hc"].transpose(1, 2))
        if w is not None:
            self._add_cov(s, inp if self.patterns is None else None, w, codes, buf)

    def _add_pattern_sums(self, values: torch.Tensor, codes: torch.Tensor, first: bool) -> None:
        """Per pattern of every height-2 node: anchors, and sums of its and its children's z."""
        t = self.tree
        S, _, C = values.shape
        n2, b = self.patterns.n_nodes, t.num_children
        latents = self._buffers(C)["latents"][:S]  # (S, n_2, 2 + b, C): [1, z, children's z]
        latents[:, :, 1] = values[:, t.height_slice(2)]
        latents[:, :, 2:] = values[:, t.height_slice(1)].view(S, n2, b, C)
        self._pattern_sums += self.patterns.sum_by_pattern(latents, codes)
        if first:
            self._first_code.copy_(codes[:, :, 0, 0])

    def _add_cov(
        self,
        s: int,
        x: torch.Tensor | None,
        w: torch.Tensor,
        codes: torch.Tensor | None,
        buf: dict,
    ) -> None:
        """D += sum_i w_i a_i (x) J_i for every node run per anchor, top-down, then the
        per-pattern sums of w J below them.

        Args:
            s: the seed's index.
            x: the leaves (Shape (1, n_leaves, C)); None with leaf patterns.
            w: per-anchor weights of D. Shape: (C,).
            codes: the anchors' leaf patterns (None without patterns).
            buf: the work tensors (the outputs of the seed's forward pass).
        """
        model = self.model
        L, o, C = self.tree.depth, model.hid, w.shape[0]
        seed = slice(s, s + 1)
        torch.mul(buf["out"], w, out=buf["w_out"])
        w_out = buf["w_out_h"]
        J = None  # Jacobians of the current height; None = root (identity)
        for h in range(L - 1, self.lo - 1, -1):
            n, i = model.n_nodes[h], model.in_dims[h]
            xw = (x * w if h == 0 else w_out[h - 1]).view(n, i, C)  # weighted inputs
            if J is None:  # root, J = I: D[c, r, a] = u[a] delta_cr, u = sum_i w_i a_i
                eye = torch.eye(o, dtype=w.dtype, device=w.device)
                self._D[h][s] += xw.sum(-1)[:, None, None, :] * eye[:, :, None]
            else:
                D = torch.bmm(J.view(n, o * o, C), xw.transpose(1, 2))
                self._D[h][s] += D.view(n, o, o, i)
            if h > self.lo:
                J = model.child_jacobian(h, J, buf["out_h"][h - 1], seed, out=buf[f"J{h - 1}"])[0]
        if codes is not None:
            self._add_pattern_cov(s, J, codes, w, buf)

    def _add_pattern_cov(
        self, s: int, J: torch.Tensor | None, codes: torch.Tensor, w: torch.Tensor, buf: dict
    ) -> None:
        """Per-pattern sums of w J of the height-3 nodes (J None: height 3 is the root, or
        there is none), by the leaf pattern of each of their children."""
        o = self.model.hid
        n2, P = self.patterns.n_nodes, self.patterns.n_patterns
        C = w.shape[0]
        w_onehot = buf["w_onehot"].zero_()  # (n_2, P, C): w_i at each anchor's pattern
        w_onehot.scatter_(1, codes[0], w.expand(n2, 1, C))
        if self._wJ.dim() == 3:  # height 2 is the root: sums of w
            self._wJ[s] += w_onehot.sum(-1)
        elif J is None:  # the parents are the root: J = I
            eye = torch.eye(o, dtype=w.dtype, device=w.device)
            self._wJ[s] += eye[:, :, None, None] * w_onehot.sum(-1).view(1, 1, 1, -1, P)
        else:
            n3, b = J.shape[0], n2 // J.shape[0]
            wJ = torch.bmm(J.view(n3, o * o, C), w_onehot.view(n3, b * P, C).transpose(1, 2))
            self._wJ[s] += wJ.view(n3, o, o, b, P)

    def _pattern_results(self) -> tuple[dict, dict]:
        """Correlation sums and D of heights 1 and 2 from the per-pattern accumulators.

        Returns:
            ({"sz", "sh", "shh", "szh"} of their latents, breadth-first, as the
            per-anchor accumulators; {height index: D}).
        """
        t, model = self.tree, self.model
        b, o = t.num_children, model.hid
        S, n2, _, P = self._pattern_sums.shape
        pre: dict[int, torch.Tensor] = {}
        outs = self._pattern_table(pre)
        # correlation: per pattern c, count N_c and latent sums Z_c; h_c - shift exact in f64
        N, Z = self._pattern_sums[:, :, 0], self._pattern_sums[:, :, 1:]
        sums = {}
        for h, count, zsum in (
            (1, N, Z[:, :, 0]),
            (0, N.repeat_interleave(b, 1), Z[:, :, 1:].reshape(S, -1, P)),
        ):
            first = self._first_code.repeat_interleave(b ** (1 - h), 1)  # (S, n_h)
            hv = pre[h].double()  # (S, n_h, hid, P)
            hc = hv - hv.gather(3, first[:, :, None, None].expand(-1, -1, o, 1))
            sums[h] = {
                "sz": zsum.sum(-1),
                "sh": torch.einsum("snp,snop->sno", count, hc),
                "shh": torch.einsum("snp,snop->sno", count, hc.square()),
                "szh": torch.einsum("snp,snop->sno", zsum, hc),
            }
        corr = {k: torch.cat([sums[1][k], sums[0][k]], dim=1) for k in sums[0]}
        # D: R_c = sum over the anchors of pattern c of w J of the height-2 node
        if self._wJ.dim() == 3:  # it is the root
            eye = torch.eye(o, dtype=torch.float64, device=self.device)
            R = eye[None, None, :, :, None] * self._wJ[:, :, None, None, :]
        else:  # J_2 = J_3 W_3[:, block k] diag(gate_2)
            W3 = model.effective_weight(2).double().view(S, -1, o, b, o)  # (s, q, o', k, c)
            R = torch.einsum("sqokc,sqorkp->sqkcrp", W3, self._wJ).reshape(S, n2, o, o, P)
            R = R * (pre[1] > 0)[:, :, :, None, :]
        a1 = outs[0].double().view(S, n2, b * o, P)  # inputs of the height-2 nodes
        D = {1: torch.einsum("sncrp,snap->sncra", R, a1)}
        W2 = model.effective_weight(1).double().view(S, n2, o, b, o)  # (s, p, c', k, c)
        R1 = torch.einsum("snckd,sncrp->snkdrp", W2, R).reshape(S, n2 * b, o, o, P)
        R1 = R1 * (pre[0] > 0)[:, :, :, None, :]
        x1 = self.patterns.leaves(S, self.device).double().reshape(S, n2 * b, b, P)
        D[0] = torch.einsum("sncrp,snap->sncra", R1, x1)
        return corr, D

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
        sh = self._sums[..., 0]  # sum z hc = sum (z - 1/2) hc + sum hc / 2
        sums = {
            "sz": self._sz,
            "sh": sh,
            "shh": self._gram.diagonal(dim1=-2, dim2=-1),
            "szh": self._sums[..., 1] + 0.5 * sh,
        }
        D = dict(self._D)
        if self.patterns is not None:
            corr, D_pat = self._pattern_results()
            sums = {k: torch.cat([v, corr[k]], dim=1) for k, v in sums.items()}
            D.update(D_pat)
        n = float(self.n)
        mz = sums["sz"] / n  # (seed, n_latent)
        mh = sums["sh"] / n  # (seed, n_latent, hid)
        cov = sums["szh"] / n - mz[..., None] * mh
        vz = (mz * (1 - mz)).clamp(min=0)  # z binary: E[z^2] = E[z]
        vh = (sums["shh"] / n - mh.square()).clamp(min=0)
        denom = torch.sqrt(vz[..., None] * vh)
        ok = denom > 0
        corr = torch.where(ok, cov / torch.where(ok, denom, 1.0), 0.0)
        best = corr.abs().clamp(max=1).amax(-1)  # (seed, n_latent)
        p = self.n_class / self.n_class.sum(1, keepdim=True)  # (seed, 2)
        pp = (p[:, 0] * p[:, 1])[:, None]  # (seed, 1)
        cov_code, cov_paper = [], []
        for h in range(self.tree.depth - 1, -1, -1):  # root first: breadth-first order
            G_code = torch.einsum("sncra,sndra->sncd", D[h], D[h])  # rows (a, r): contract a, r
            G_paper = torch.einsum("sncra,sncqa->snrq", D[h], D[h])  # rows (a, c): contract a, c
            cov_code.append(pp * torch.linalg.matrix_norm(G_code))
            cov_paper.append(pp * torch.linalg.matrix_norm(G_paper))
        t = self.tree
        heights = [best[:, t.height_slice(h)].mean(1) for h in range(1, t.depth + 1)]
        return {
            "best_corr": best.cpu(),
            "best_corr_height": torch.stack(heights, dim=1).cpu(),
            "cov_op_norm": torch.cat(cov_code, dim=1).cpu(),
            "cov_op_norm_paper": torch.cat(cov_paper, dim=1).cpu(),
        }


@torch.no_grad()
def evaluate_epoch(
    model: TreeNet,
    nodes: torch.Tensor,
    chunk: int = 512,
    cov_samples: int | None = None,
) -> dict[str, torch.Tensor]:
    """All metrics of one epoch with frozen parameters (BN in eval mode).

    Args:
        model: the network (all seeds).
        nodes: the anchors' node values, node-major (latents then leaves, bool;
            e.g. :attr:`Triplets.anchors`). Shape: (seed, n_nodes, N).
        chunk: anchors per forward pass (the float32 sums run within a chunk;
            at hid 10 one seed's work tensors take ~chunk * 40 kB).
        cov_samples: compute the covariance operator on the first
            ``cov_samples`` anchors only (rounded up to whole chunks; None = all,
            as the authors' code). It is the costly metric; fewer samples add
            estimation noise, which biases its norm upwards.

    Returns:
        :meth:`EpochMetrics.result` plus ``weight_norm`` (Shape: (seed, n_latent)).
    """
    N = nodes.shape[2]
    n_cov = N if cov_samples is None else min(N, -(-cov_samples // chunk) * chunk)
    n1 = nodes[:, 0, :n_cov].sum(1, dtype=torch.float64)
    counts = torch.stack([n_cov - n1, n1], dim=1)  # (seed, 2)
    acc = EpochMetrics(model, counts)
    for i in range(0, N, chunk):
        acc.update(nodes[:, :, i : i + chunk], with_cov=i < n_cov)
    res = acc.result()
    res["weight_norm"] = model.weight_norms().double().cpu()
    return res
