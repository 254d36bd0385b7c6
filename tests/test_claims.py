import pytest

from contrastlab.claims import paired_claim


@pytest.mark.parametrize(
    "diffs, verdict",
    [
        ([0.5, 0.6, 0.4, 0.55], "supported"),
        ([-0.5, -0.6, -0.4], "contradicted"),
        ([0.5, -0.6, 0.1], "inconclusive"),
        ([0.5], "inconclusive"),
        ([], "inconclusive"),
    ],
)
def test_verdict_follows_the_interval(diffs, verdict):
    assert paired_claim("p", "c", "m", diffs)["verdict"] == verdict


def test_interval_is_the_t_interval():
    row = paired_claim("p", "c", "m", [1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: half width t_{0.975,2} / sqrt(3) = 4.302653 / 1.7320508
    assert row["ci_low"] == pytest.approx(2 - 2.4841377, rel=1e-6)
    assert row["cohens_d"] == pytest.approx(2.0)
