"""Thread pools of training and batch jobs: limited as asked, then given back."""

import pytest
from threadpoolctl import threadpool_info

from dressup.threads import free_cores, job_threads, usable_cores

torch = pytest.importorskip("torch")


def test_a_job_limits_every_pool_and_gives_them_back():
    import numpy  # noqa: F401 - its BLAS pool

    before = {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}
    torch_before = torch.get_num_threads()
    with job_threads(1) as threads:
        assert threads == 1 and torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()} == before
    assert torch.get_num_threads() == torch_before


def test_a_job_never_takes_more_cores_than_it_may_use():
    assert 1 <= free_cores() <= usable_cores()
    with job_threads(10_000) as threads:
        assert threads == usable_cores()
