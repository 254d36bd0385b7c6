import json

import numpy as np
import pytest
import xarray as xr

from contrastlab.results import combine_points, read_netcdf, write_netcdf
from contrastlab.utils import provenance


def _ds(value):
    return xr.Dataset(
        {"y": (("seed", "step"), np.full((2, 3), value), {"long_name": "y", "units": "1"})},
        coords={
            "seed": ("seed", [0, 1], {"long_name": "seed", "units": "1"}),
            "step": ("step", [0, 5, 10], {"long_name": "step", "units": "1"}),
        },
        attrs=provenance({"a": value}, [0, 1], "cpu", 1.5),
    )


def test_netcdf_round_trip_keeps_values_attrs_and_provenance(tmp_path):
    ds = _ds(0.25)
    write_netcdf(ds, tmp_path / "a.nc")
    back = read_netcdf(tmp_path / "a.nc")
    np.testing.assert_array_equal(back.y.values, ds.y.values)
    assert back.y.attrs["long_name"] == "y"
    assert json.loads(back.attrs["config"]) == {"a": 0.25}
    assert back.attrs["contrastlab_version"] and back.attrs["git_commit"]
    assert back.attrs["device"] == "cpu" and back.attrs["wall_time_s"] == 1.5


def test_variables_without_units_are_refused(tmp_path):
    ds = _ds(1.0)
    ds["z"] = ("seed", [1.0, 2.0])
    with pytest.raises(ValueError, match="z"):
        write_netcdf(ds, tmp_path / "b.nc")
    assert not (tmp_path / "b.nc").exists()


def test_combine_points_adds_sweep_dims():
    points = [{"a": a, "b": b} for a in ("x", "y") for b in (1, 2)]
    dss = [_ds(i) for i in range(4)]
    agg = combine_points(dss, points, {"a": {"long_name": "axis a", "units": "1"}})
    assert agg.y.dims == ("a", "b", "seed", "step")
    assert agg.y.sel(a="y", b=1).values[0, 0] == 2
    assert agg.a.attrs["long_name"] == "axis a"
    reordered = combine_points(dss[::-1], points[::-1])
    assert reordered.a.values.tolist() == ["y", "x"]  # the order of the points, not sorted
    prov = json.loads(agg.attrs["points_provenance"])
    assert len(prov) == 4 and prov[3]["point"] == {"a": "y", "b": 2}
    assert json.loads(prov[3]["config"]) == {"a": 3} and prov[3]["git_commit"]
