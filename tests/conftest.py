"""Shared pytest set-up: the ``slow`` marker is opt-in with ``--runslow``."""

from pathlib import Path

import pytest
import torch

# Small tensors: one thread is faster and keeps parallel test runs from fighting.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def root() -> Path:
    return ROOT
