"""Generator statistics of the three data kinds, and the config's cross-field rules."""

import math

import numpy as np
import pytest
import torch

from contrastlab.config import ConfigError, check_experiment
from contrastlab.engine import streams
from contrastlab.families.clusters.config import ClustersConfig
from contrastlab.families.clusters.data import (
    hypercube_cluster,
    hypercube_view,
    manifold_geometry,
    manifold_view,
    synthesize,
)


def _gens(n=1, name="test"):
    return streams(list(range(n)), "clusters", name)


# -- hypercube ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cube():
    cfg = ClustersConfig(d=8, s=3, n_train=4000, n_eval=2000)
    return cfg, synthesize(cfg, [0, 1])


def test_hypercube_points_clusters_and_labels(cube):
    cfg, ds = cube
    x = ds.x_train.values
    assert set(np.unique(x)) == {-1.0, 1.0}
    assert abs(x.mean()) < 0.02
    c = ds.cluster_train.values
    assert set(np.unique(c)) == set(range(2**cfg.s))  # 2^s clusters, each about n / 2^s
    counts = np.bincount(c[0], minlength=8)
    n = cfg.n_train
    assert np.abs(counts - n / 8).max() < 5 * math.sqrt(n / 8)
    bits = (x[..., : cfg.s] > 0).astype(int)
    np.testing.assert_array_equal(c, (bits * 2 ** np.arange(cfg.s)).sum(-1))
    np.testing.assert_allclose(np.linalg.norm(ds.label_weights.values, axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("kind", ["resample", "additive", "multiplicative"])
def test_hypercube_views_keep_the_invariant_coordinates(kind):
    s, eps = 3, 0.4
    g = torch.Generator().manual_seed(0)
    x = torch.where(torch.rand(2, 3000, 7, generator=g) < 0.5, -1.0, 1.0)
    v = hypercube_view(x, s, kind, eps, _gens(2))
    torch.testing.assert_close(v[..., :s], x[..., :s])
    torch.testing.assert_close(hypercube_cluster(v, s), hypercube_cluster(x, s))
    sx, sv = x[..., s:], v[..., s:]
    if kind == "resample":
        assert set(sv.unique().tolist()) == {-1.0, 1.0}
        agree = (sv == sx).double().mean().item()  # independent of the natural point
        assert abs(agree - 0.5) < 0.02
    elif kind == "additive":
        assert (sv - sx).abs().max() <= eps + 1e-6 and (torch.sign(sv) == sx).all()
        assert abs((sv - sx).var().item() - eps**2 / 3) < 0.005  # U[-eps, eps]
    else:
        ratio = sv / sx
        assert ratio.min() > 0 and ratio.max() <= 1 and abs(ratio.mean().item() - 0.5) < 0.02


def test_resampled_views_connect_exactly_the_points_of_one_pattern():
    """Many views of one natural point cover every spurious pattern, never another cluster."""
    x = torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0]]).expand(1, 400, 5)
    v = hypercube_view(x, 2, "resample", 0.5, _gens())
    assert (hypercube_cluster(v, 2) == hypercube_cluster(x[:, :1], 2)).all()
    assert torch.unique(v[0, :, 2:], dim=0).shape[0] == 8  # all 2^(d - s) spurious patterns


# -- manifolds ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def manifolds():
    cfg = ClustersConfig(data_kind="manifolds", d=10, r=3, r0=4, n_train=3000, n_eval=500)
    return cfg, synthesize(cfg, [0])


def _nearest_sub(x, centres):
    """Index c * r0 + j of the nearest sub-cluster centre. x: (n, d), centres: (r, r0, d)."""
    flat = centres.reshape(-1, centres.shape[-1])
    return ((x[:, None, :] - flat[None]) ** 2).sum(-1).argmin(-1)


def test_manifold_geometry(manifolds):
    cfg, ds = manifolds
    sub = ds.sub_centres.values[0].astype(float)  # (r, r0, d)
    centres = sub.mean(1)
    dist = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    np.testing.assert_allclose(dist[~np.eye(cfg.r, dtype=bool)], cfg.cluster_sep, rtol=1e-5)
    neighbours = np.linalg.norm(sub - np.roll(sub, 1, axis=1), axis=-1)
    np.testing.assert_allclose(neighbours, cfg.sub_sep, rtol=1e-5)


def test_manifold_points_belong_to_their_sub_cluster(manifolds):
    cfg, ds = manifolds
    x, sub = ds.x_train.values[0], ds.sub_train.values[0]
    centres = ds.sub_centres.values[0]
    np.testing.assert_array_equal(_nearest_sub(x, centres), sub)
    np.testing.assert_array_equal(ds.cluster_train.values[0], sub // cfg.r0)
    assert set(np.unique(sub)) == set(range(cfg.r * cfg.r0))
    resid = x - centres.reshape(-1, cfg.d)[sub]
    assert resid.std() == pytest.approx(cfg.spread, rel=0.05)


def test_manifold_views_stay_in_the_cluster_and_hop_to_neighbours(manifolds):
    cfg, ds = manifolds
    centres = torch.as_tensor(ds.sub_centres.values, dtype=torch.float64)
    dirs = torch.as_tensor(ds.seg_dirs.values, dtype=torch.float64)
    sub = torch.as_tensor(ds.sub_train.values).long()
    v = manifold_view(centres, dirs, sub, cfg, _gens())
    got = torch.as_tensor(_nearest_sub(v[0].numpy(), centres[0].numpy()))
    assert (got // cfg.r0 == sub[0] // cfg.r0).all()  # never leaves its cluster
    step = (got % cfg.r0 - sub[0] % cfg.r0) % cfg.r0
    assert set(step.unique().tolist()) <= {0, 1, cfg.r0 - 1}  # itself or a neighbour
    n = sub.shape[1]
    hop = (step != 0).double().mean().item()
    assert abs(hop - cfg.hop_prob) < 4 * math.sqrt(cfg.hop_prob * (1 - cfg.hop_prob) / n)
    up = (step == 1).sum().item() / max(1, (step != 0).sum().item())
    assert abs(up - 0.5) < 0.15


def test_segment_sub_clusters_lie_near_their_segment():
    cfg = ClustersConfig(
        data_kind="manifolds", sub_shape="segment", spread=0.02, segment_length=0.6, n_train=2000
    )
    ds = synthesize(cfg, [0])
    x, sub = ds.x_train.values[0].astype(float), ds.sub_train.values[0]
    centre = ds.sub_centres.values[0].reshape(-1, cfg.d)[sub]
    u = ds.seg_dirs.values[0].reshape(-1, cfg.d)[sub]
    t = ((x - centre) * u).sum(-1)
    perp = x - centre - t[:, None] * u
    assert np.abs(t).max() < cfg.segment_length / 2 + 5 * cfg.spread
    assert t.std() == pytest.approx(cfg.segment_length / math.sqrt(12), rel=0.1)  # uniform
    assert perp.std() == pytest.approx(cfg.spread, rel=0.1)


def test_geometry_needs_no_more_clusters_than_dimensions():
    with pytest.raises(ValueError, match=r"data\.r \(5\) must be <= data\.d \(4\)"):
        ClustersConfig(data_kind="manifolds", d=4, r=5).check()
    sub, dirs = manifold_geometry(ClustersConfig(data_kind="manifolds", r0=1), _gens()[0])
    assert sub.shape == (4, 1, 12) and dirs.shape == (4, 1, 12)


# -- digits and all kinds ---------------------------------------------------------------------
def test_digits_split_views_and_labels():
    cfg = ClustersConfig(data_kind="digits", test_fraction=0.25)
    ds = synthesize(cfg, [0, 4])
    n_train, n_eval = cfg.split_sizes()
    assert ds.sizes["sample"] == n_train and ds.sizes["eval_sample"] == n_eval
    assert ds.sizes["dim"] == 64
    x = ds.x_eval.values
    assert x.min() >= 0 and x.max() <= 1
    assert set(np.unique(ds.cluster_eval.values)) == set(range(10))
    v1, v2 = ds.view1_eval.values, ds.view2_eval.values
    assert v1.min() >= 0 and v1.max() <= 1 and not np.array_equal(v1, v2)
    assert not np.array_equal(ds.x_train.values[0], ds.x_train.values[1])  # split per seed


@pytest.mark.parametrize(
    "cfg",
    [
        ClustersConfig(d=6, s=2, n_train=50, n_eval=30, augment="additive"),
        ClustersConfig(data_kind="manifolds", n_train=50, n_eval=30, sub_shape="segment"),
        ClustersConfig(data_kind="digits"),
    ],
    ids=["hypercube", "manifolds", "digits"],
)
def test_each_seed_equals_its_own_run_and_is_deterministic(cfg):
    both = synthesize(cfg, [3, 7])
    alone = synthesize(cfg, [7])
    for var in ("x_train", "view1_eval", "view2_eval", "cluster_eval"):
        np.testing.assert_array_equal(both[var].sel(seed=[7]).values, alone[var].values, var)
    again = synthesize(cfg, [3, 7])
    np.testing.assert_array_equal(both.view2_eval.values, again.view2_eval.values)
    assert not np.array_equal(both.view1_eval.values[0], both.view1_eval.values[1])


# -- config -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d": 4, "s": 5}, r"data\.s \(5\) must be <= data\.d \(4\)"),
        ({"k": 0}, r"model\.k \(0\) must be >= 1"),
        ({"data_kind": "manifolds", "r0": 0}, r"data\.r0 \(0\) must be >= 1"),
        ({"lambdas": []}, r"loss\.lambdas must not be empty"),
        ({"lambdas": [1.0, 1.0]}, r"loss\.lambdas .* distinct"),
        ({"k": 40, "n_eval": 40}, r"model\.k \(40\) must be < the training"),
        ({"data_kind": "digits", "k": 400, "width": 500}, r"model\.k \(400\).*test_fraction"),
        ({"encoder": "linear", "k": 13}, r"model\.k \(13\) must be <= the input dimension"),
        ({"k": 20, "width": 16}, r"model\.k \(20\) must be <= model\.width \+ 1"),
        ({"batch_size": 300, "n_train": 200}, r"train\.batch_size \(300\)"),
        (
            {"data_kind": "digits", "batch_size": 1500, "test_fraction": 0.5},
            r"train\.batch_size \(1500\) must be <= the training points \(898",
        ),
    ],
)
def test_cross_field_rules_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClustersConfig(**kwargs).check()


def test_schema_and_rules_through_the_config_loader():
    with pytest.raises(ConfigError, match=r"experiments\.exp.*data\.s \(13\)"):
        check_experiment({"family": "clusters", "data": {"s": 13}})
    with pytest.raises(ConfigError, match=r"experiments\.exp\.model\.k"):
        check_experiment({"family": "clusters", "model": {"k": 0}})
    with pytest.raises(ConfigError, match=r"experiments\.exp\.loss\.lambdas"):
        check_experiment({"family": "clusters", "loss": {"lambdas": []}})
    with pytest.raises(ConfigError, match=r"sweep point k=9.*model\.k \(9\)"):
        check_experiment(
            {"family": "clusters", "model": {"encoder": "linear"}, "sweep": {"model.k": [3, 9]},
             "data": {"d": 8, "s": 3}}
        )  # fmt: skip
    cfg = check_experiment({"family": "clusters"})
    assert cfg == ClustersConfig() and cfg.grid == [1.0]
    assert ClustersConfig(data_kind="digits").grid == [1.0, 3.0, 10.0]


def test_warnings_name_keys_the_kind_never_reads():
    assert ClustersConfig().warnings() == [] and ClustersConfig(data_kind="digits").warnings() == []
    msgs = ClustersConfig(encoder="linear", eps=0.3, lambdas=[1.0], width=3).warnings()
    assert [m.split(" (")[0] for m in msgs] == ["augmentation.eps", "loss.lambdas", "model.width"]
    assert (
        ClustersConfig(data_kind="digits", d=20, hop_prob=0.5)
        .warnings()[0]
        .startswith("data.d (20)")
    )


def test_memory_estimate_grows_with_the_keys_it_names():
    base = ClustersConfig().memory_estimate(3)
    assert set(base) >= {"data.n_train", "model.width", "train.batch_size"}
    assert all(v > 0 for v in base.values()) and sum(base.values()) < 2**30
    big = ClustersConfig(d=50, s=10, encoder="linear", k=10).memory_estimate(3)
    assert max(big, key=big.get) == "data.s"  # the 1024-way one-hot label
    assert ClustersConfig(width=512).memory_estimate(3)["model.width"] > 4 * base["model.width"]
