"""Hierarchical latent tree model (HLTM): tree, polarities and a vectorised sampler.

The generative model of Tian et al. 2020, Sec. 6 (and ``class Latent`` /
``SimpleDataset`` in the authors' ``ssl/hltm/simCLR_hltm.py``):

* a rooted tree of binary latents z in {0, 1}; ``depth`` = L latent levels,
  ``num_children`` children per node, so ``num_children**L`` observed leaves;
* root z_0 ~ U{0, 1}; along every edge mu -> nu (latent -> latent and
  latent -> leaf), z_nu = z_mu with probability (1 + rho_mu_nu) / 2, else
  flipped;
* polarity rho = sigma * u with u ~ U[delta_lower, delta_upper] and sigma = +-1
  with probability 1/2, drawn once per tree;
* input x = the leaf values as floats; the positive x+ keeps the root value of
  x and re-samples everything below it; the negative x- is an independent
  sample (one negative per anchor, "H = 1").

Indexing. Nodes are numbered breadth-first (top-down, left to right): node 0 is
the root, level l (0 = root, L = leaves) holds nodes ``offset_l ..
offset_l + b**l - 1`` with ``offset_l = (b**l - 1) / (b - 1)`` and the children
of the node at position p of level l are positions ``p*b .. p*b + b - 1`` of
level l + 1. The height of a node is ``L - level`` (1 = parents of leaves, L =
root), as the authors' ``Latent.depth``. Edge e joins node ``e + 1`` to its
parent. Node names follow the authors' code: the root is ``"s"`` and child i of
``name`` is ``name + str(i)``.

Random streams (one ``torch.Generator`` per seed each, via
engine's :func:`contrastlab.engine.streams`): ``"hltm/tree"`` draws the polarities,
``"hltm/data"`` the samples. A batch of seeds therefore gives exactly the
numbers that each seed gives alone. The tree stream does not depend on
``delta_lower``/``hid``: for one seed, all cells of a sweep share the signs and
the uniform draws of their polarities (and, with the same N, their data),
which makes cross-cell differences paired comparisons.

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, Sec. 6, https://arxiv.org/abs/2010.00578
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py (class Latent,
      SimpleDataset)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import xarray as xr

from contrastlab.engine import streams

DRAW_BLOCK = 1 << 16
"""Uniforms drawn per ``torch.rand`` call by the CPU sampler (256 KiB: stays in cache)."""


class LatentTree:
    """Structure of a complete ``num_children``-ary tree with ``depth`` latent levels.

    Args:
        depth: L, number of latent levels (root at level 0, leaves at level L).
        num_children: b, children per latent node.
    """

    def __init__(self, depth: int, num_children: int) -> None:
        if depth < 1 or num_children < 2:
            raise ValueError(f"need depth >= 1 and num_children >= 2, got {depth}, {num_children}")
        self.depth = int(depth)
        self.num_children = int(num_children)

    def __repr__(self) -> str:
        return f"LatentTree(depth={self.depth}, num_children={self.num_children})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LatentTree)
            and other.depth == self.depth
            and other.num_children == self.num_children
        )

    def __hash__(self) -> int:
        return hash((self.depth, self.num_children))

    # -- sizes ----------------------------------------------------------------
    def level_size(self, level: int) -> int:
        """Number of nodes at ``level`` (0 = root)."""
        return self.num_children**level

    def level_offset(self, level: int) -> int:
        """Breadth-first index of the first node of ``level``."""
        b = self.num_children
        return (b**level - 1) // (b - 1)

    def level_slice(self, level: int) -> slice:
        """Breadth-first indices of the nodes of ``level``."""
        o = self.level_offset(level)
        return slice(o, o + self.level_size(level))

    @property
    def n_nodes(self) -> int:
        """All nodes, latent and leaves."""
        return self.level_offset(self.depth + 1)

    @property
    def n_latent(self) -> int:
        """Latent (non-leaf) nodes: levels 0..L-1, breadth-first indices 0..n_latent-1."""
        return self.level_offset(self.depth)

    @property
    def n_leaves(self) -> int:
        """Observed leaves = input dimension."""
        return self.level_size(self.depth)

    @property
    def n_edges(self) -> int:
        """Edges, one per non-root node."""
        return self.n_nodes - 1

    def height_size(self, height: int) -> int:
        """Number of latent nodes at ``height`` (1 = parents of leaves, L = root)."""
        return self.level_size(self.depth - height)

    def height_slice(self, height: int) -> slice:
        """Breadth-first indices of the latent nodes at ``height``."""
        return self.level_slice(self.depth - height)

    # -- per-node tables ---------------------------------------------------------
    @cached_property
    def node_level(self) -> np.ndarray:
        """Level of every node (0 = root). Shape: (n_nodes,)."""
        return np.concatenate(
            [np.full(self.level_size(lv), lv) for lv in range(self.depth + 1)]
        ).astype(np.int64)

    @cached_property
    def node_height(self) -> np.ndarray:
        """Height of every node (0 = leaf, L = root). Shape: (n_nodes,)."""
        return self.depth - self.node_level

    @cached_property
    def node_parent(self) -> np.ndarray:
        """Parent of every node (-1 for the root). Shape: (n_nodes,)."""
        parent = np.full(self.n_nodes, -1, dtype=np.int64)
        for lv in range(1, self.depth + 1):
            pos = np.arange(self.level_size(lv))
            parent[self.level_slice(lv)] = self.level_offset(lv - 1) + pos // self.num_children
        return parent

    @cached_property
    def node_name(self) -> list[str]:
        """Authors' names: root "s", child i of node "n" is "n" + str(i)."""
        names = ["s"]
        for lv in range(1, self.depth + 1):
            parents = names[self.level_slice(lv - 1)]
            names.extend(p + str(i) for p in parents for i in range(self.num_children))
        return names


def sample_polarities(
    tree: LatentTree,
    seeds: Sequence[int],
    delta_lower: float,
    delta_upper: float = 1.0,
    generators: Sequence[torch.Generator] | None = None,
) -> torch.Tensor:
    """Draw rho = sigma * u per edge and seed (float64).

    For each seed, from its ``"hltm/tree"`` generator (or ``generators``): first
    ``n_edges`` uniforms v ~ U[0, 1) then ``n_edges`` signs; u = delta_lower +
    (delta_upper - delta_lower) * v, sigma = +1 if the sign bit is 0 else -1.

    Returns:
        rho. Shape: (seed, edge).
    """
    if generators is None:
        generators = streams(seeds, "hltm", "tree")
    rows = []
    for g in generators:
        v = torch.rand(tree.n_edges, dtype=torch.float64, generator=g)
        bit = torch.randint(0, 2, (tree.n_edges,), generator=g)
        u = delta_lower + (delta_upper - delta_lower) * v
        rows.append(u * (1 - 2 * bit).to(torch.float64))
    return torch.stack(rows)


@dataclass
class Triplets:
    """One epoch's anchors, positives and negatives: all node values, node-major.

    Attributes:
        nodes: node values (latents then leaves, breadth-first) of view v (0 =
            anchor, 1 = positive, 2 = negative) and sample i at
            ``nodes[seed, node, v, i]`` (bool). Shape: (seed, n_nodes, 3, n).
        n_latent: number of latent nodes (leaves are the rows after it).
    """

    nodes: torch.Tensor
    n_latent: int

    @property
    def anchors(self) -> torch.Tensor:
        """The anchors' node values, node-major (a view). Shape: (seed, n_nodes, n)."""
        return self.nodes[:, :, 0]

    def inputs(self, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """The network input of samples ``start .. stop - 1``: [anchors | positives |
        negatives] as float32 leaves, feature-major (:mod:`.model`), contiguous.

        Args:
            start, stop: the samples.
            out: optional buffer of the result's size to fill (reused per batch).

        Returns:
            Shape: (seed, n_leaves, 3 * (stop - start)).
        """
        leaves = self.nodes[:, self.n_latent :, :, start:stop]
        S, n_leaves, v, m = leaves.shape
        if out is None:
            out = torch.empty((S, n_leaves, v * m), dtype=torch.float32, device=leaves.device)
        out.view(S, n_leaves, v, m).copy_(leaves.view(torch.uint8))  # from uint8: 4x faster
        return out

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """The network input of every mini-batch of consecutive samples (the last may be
        smaller), as :meth:`inputs`, in one reused buffer: use each before the next.

        The leaves of the full batches are first copied batch-major, once per
        epoch (then a batch is one contiguous block; gathering its rows from the
        node-major bits every step costs ~4x more).
        """
        leaves = self.nodes[:, self.n_latent :].view(torch.uint8)  # (S, n_leaves, 3, n)
        S, n_leaves, v, n = leaves.shape
        T, B = n // batch_size, batch_size
        if T:
            by_batch = leaves[..., : T * B].unflatten(3, (T, B)).permute(3, 0, 1, 2, 4)
            by_batch = by_batch.contiguous()  # (T, S, n_leaves, 3, B)
            out = torch.empty((S, n_leaves, v * B), dtype=torch.float32, device=leaves.device)
            for t in range(T):
                out.view(S, n_leaves, v, B).copy_(by_batch[t])
                yield out
        if T * B < n:
            yield self.inputs(T * B, n)

    # -- sample-major views (seed, n, node), for tests and analyses ----------------------
    def _view(self, v: int) -> torch.Tensor:
        return self.nodes[:, :, v].transpose(1, 2)

    @property
    def z(self) -> torch.Tensor:
        """Anchors' latents and leaves (bool, a view). Shape: (seed, n, n_nodes)."""
        return self._view(0)

    @property
    def z_pos(self) -> torch.Tensor:
        """Positives (same root as ``z``). Shape: (seed, n, n_nodes)."""
        return self._view(1)

    @property
    def z_neg(self) -> torch.Tensor:
        """Independent negatives. Shape: (seed, n, n_nodes)."""
        return self._view(2)

    def _leaves(self, v: int) -> torch.Tensor:
        return self._view(v)[..., self.n_latent :].to(
            torch.float32, memory_format=torch.contiguous_format
        )

    @property
    def x(self) -> torch.Tensor:
        """Anchor inputs (leaves as float32, contiguous). Shape: (seed, n, n_leaves)."""
        return self._leaves(0)

    @property
    def x_pos(self) -> torch.Tensor:
        """Positive inputs. Shape: (seed, n, n_leaves)."""
        return self._leaves(1)

    @property
    def x_neg(self) -> torch.Tensor:
        """Negative inputs. Shape: (seed, n, n_leaves)."""
        return self._leaves(2)

    @property
    def label(self) -> torch.Tensor:
        """Root value of the anchors (the class of the covariance operator). Shape: (seed, n)."""
        return self.nodes[:, 0, 0]


class HLTMSampler:
    """Vectorised HLTM sampler for a batch of trees (one per seed).

    Sampling costs the uniforms of one ``torch.rand`` of shape (n_nodes, views,
    n) per seed (on CPU the bulk of the time: ~3 ns per number) and one
    broadcast xor per tree level; no Python loop over samples.

    Args:
        tree: the tree structure.
        rho: polarity per edge. Shape: (seed, edge).
        seeds: the seeds the trees were drawn for (kept as metadata).
        delta_lower, delta_upper: the range rho was drawn from (metadata).
    """

    def __init__(
        self,
        tree: LatentTree,
        rho: torch.Tensor,
        seeds: Sequence[int],
        delta_lower: float = float("nan"),
        delta_upper: float = float("nan"),
    ) -> None:
        rho = torch.as_tensor(rho, dtype=torch.float64)
        if rho.ndim != 2 or rho.shape[1] != tree.n_edges or rho.shape[0] != len(seeds):
            raise ValueError(f"rho must have shape ({len(seeds)}, {tree.n_edges}), got {rho.shape}")
        if (rho.abs() > 1).any():
            raise ValueError("polarities must lie in [-1, 1]")
        self.tree = tree
        self.rho = rho
        self.seeds = [int(s) for s in seeds]
        self.delta_lower = float(delta_lower)
        self.delta_upper = float(delta_upper)
        # Threshold per node column for u < threshold: column 0 is the root bit
        # (probability 1/2), column e + 1 the flip of edge e (probability (1 - rho)/2).
        self._threshold = torch.cat(
            [torch.full((len(seeds), 1), 0.5, dtype=torch.float64), (1 - rho) / 2], dim=1
        ).float()  # (seed, n_nodes)

    @classmethod
    def from_config(cls, cfg, seeds: Sequence[int]) -> HLTMSampler:
        """Draw the trees of ``seeds`` for an ``HLTMConfig``."""
        tree = LatentTree(cfg.depth, cfg.num_children)
        rho = sample_polarities(tree, seeds, cfg.delta_lower, cfg.delta_upper)
        return cls(tree, rho, seeds, cfg.delta_lower, cfg.delta_upper)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> HLTMSampler:
        """Rebuild the sampler from :meth:`to_dataset`'s output (e.g. read from netCDF)."""
        tree = LatentTree(int(ds.attrs["depth"]), int(ds.attrs["num_children"]))
        rho = torch.as_tensor(ds["polarity"].transpose("seed", "edge").values, dtype=torch.float64)
        expected_child = np.arange(1, tree.n_nodes)
        if not np.array_equal(ds["edge_child"].values, expected_child):
            raise ValueError("edge order of the dataset does not match the tree layout")
        return cls(
            tree,
            rho,
            [int(s) for s in ds["seed"].values],
            float(ds.attrs.get("delta_lower", np.nan)),
            float(ds.attrs.get("delta_upper", np.nan)),
        )

    def to_dataset(self) -> xr.Dataset:
        """Tree parameters as an ``xarray.Dataset`` (dims seed, edge).

        Variables: ``polarity`` rho and ``agreement_prob`` (1 + rho) / 2. Coords:
        ``seed``, ``edge``, ``edge_parent``/``edge_child`` (breadth-first node
        indices), ``edge_level`` (level of the child, 1..L),
        ``edge_parent_name``/``edge_child_name``. Global attrs ``depth``,
        ``num_children``, ``delta_lower``, ``delta_upper`` (what
        :meth:`from_dataset` needs).
        """
        t = self.tree
        child = np.arange(1, t.n_nodes)
        names = np.array(t.node_name)
        rho = self.rho.numpy()
        return xr.Dataset(
            data_vars={
                "polarity": (
                    ("seed", "edge"),
                    rho,
                    {"long_name": "edge polarity rho", "units": "1"},
                ),
                "agreement_prob": (
                    ("seed", "edge"),
                    (1 + rho) / 2,
                    {"long_name": "P(child = parent)", "units": "1"},
                ),
            },
            coords={
                "seed": ("seed", np.array(self.seeds), {"long_name": "seed", "units": "1"}),
                "edge": ("edge", np.arange(t.n_edges), {"long_name": "edge index", "units": "1"}),
                "edge_parent": (
                    "edge",
                    t.node_parent[child],
                    {"long_name": "parent node (breadth-first index)", "units": "1"},
                ),
                "edge_child": (
                    "edge",
                    child,
                    {"long_name": "child node (breadth-first index)", "units": "1"},
                ),
                "edge_level": (
                    "edge",
                    t.node_level[child],
                    {"long_name": "tree level of the child (0 = root)", "units": "1"},
                ),
                "edge_parent_name": (
                    "edge",
                    names[t.node_parent[child]].astype(str),
                    {"long_name": "parent node name", "units": "1"},
                ),
                "edge_child_name": (
                    "edge",
                    names[child].astype(str),
                    {"long_name": "child node name", "units": "1"},
                ),
            },
            attrs={
                "depth": t.depth,
                "num_children": t.num_children,
                "delta_lower": self.delta_lower,
                "delta_upper": self.delta_upper,
            },
        )

    def select(self, index: Sequence[int]) -> HLTMSampler:
        """Sampler for a subset of the seeds (by position)."""
        idx = list(index)
        return HLTMSampler(
            self.tree,
            self.rho[idx],
            [self.seeds[i] for i in idx],
            self.delta_lower,
            self.delta_upper,
        )

    # -- sampling ----------------------------------------------------------------
    def _draw_bits(self, n: int, views: int, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """Root bits and edge flips, u < threshold, per seed from its own generator.

        Per seed the uniforms of one ``torch.rand((n_nodes, views, n))`` (node-major,
        so that a tree level is a contiguous block of rows). The CPU generator
        fills a tensor element by element in order, so on CPU they are drawn in
        consecutive pieces of :data:`DRAW_BLOCK` numbers into one reused buffer
        (same numbers, compared while in cache); other devices draw them at once.

        Returns:
            bits. Shape: (seed, n_nodes, views, n), bool.
        """
        if len(generators) != len(self.seeds):
            raise ValueError(f"need {len(self.seeds)} generators, got {len(generators)}")
        K, cols = self.tree.n_nodes, views * n
        device = generators[0].device if generators else torch.device("cpu")
        bits = torch.empty((len(generators), K, cols), dtype=torch.bool, device=device)
        if device.type != "cpu":
            for s, g in enumerate(generators):
                thr = self._threshold[s].to(device)[:, None]  # (n_nodes, 1)
                u = torch.rand((K, cols), generator=g, device=device)
                torch.lt(u, thr, out=bits[s])
            return bits.view(-1, K, views, n)
        block = min(cols, DRAW_BLOCK)
        buf = torch.empty(block)
        for s, g in enumerate(generators):
            thr = self._threshold[s]
            for k in range(K):
                for j in range(0, cols, block):
                    u = torch.rand(min(block, cols - j), generator=g, out=buf[: cols - j])
                    torch.lt(u, thr[k], out=bits[s, k, j : j + block])
        return bits.view(-1, K, views, n)

    def _propagate(self, z: torch.Tensor) -> torch.Tensor:
        """Turn row 0 (root value) and flip bits into node values, top-down, in place.

        Args:
            z: bits as from :meth:`_draw_bits`. Shape: (seed, n_nodes, ...), bool.
        """
        t = self.tree
        b = t.num_children
        for lv in range(1, t.depth + 1):
            parent = z[:, t.level_slice(lv - 1)]  # (seed, b**(lv-1), ...)
            child = z[:, t.level_slice(lv)].unflatten(1, (t.level_size(lv - 1), b))
            child.logical_xor_(parent.unsqueeze(2))  # child = flip xor parent
        return z

    def sample(
        self,
        n: int,
        generators: Sequence[torch.Generator],
        root: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` independent samples per tree, optionally with given root values.

        Args:
            n: samples per seed.
            generators: one per seed (same device as the output).
            root: optional root values to condition on. Shape: (seed, n), bool.

        Returns:
            All node values (latents then leaves, breadth-first), a permuted
            view of a node-major tensor. Shape: (seed, n, n_nodes), bool.
        """
        z = self._draw_bits(n, 1, generators)[:, :, 0]  # (seed, n_nodes, n)
        if root is not None:
            z[:, 0] = root.to(device=z.device, dtype=torch.bool)
        return self._propagate(z).transpose(1, 2)

    def sample_triplets(self, n: int, generators: Sequence[torch.Generator]) -> Triplets:
        """Anchors, positives (same root, rest re-sampled) and negatives (independent).

        Per seed one ``torch.rand((n_nodes, 3, n))`` is drawn: view 0 = anchor,
        1 = positive (its root row unused), 2 = negative.
        """
        z = self._draw_bits(n, 3, generators)  # (seed, n_nodes, 3, n)
        z[:, 0, 1] = z[:, 0, 0]  # x+ keeps the root of x
        return Triplets(self._propagate(z), self.tree.n_latent)
