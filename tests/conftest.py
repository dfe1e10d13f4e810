"""Shared fixtures."""

import pytest


@pytest.fixture(scope="session")
def dask_client():
    """A dask.distributed client on a LocalCluster on loopback: two worker
    processes with one thread each, so every task is pickled, sent to a
    process that imports the package afresh, and its result pickled back.
    One cluster per test process (pytest-xdist worker)."""
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0",
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def dask_sync():
    """Dask's synchronous scheduler, in this process: for the checks of a dask
    route that need passes over partitions but not another process (the
    cluster tests cover pickling and remote execution)."""
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="sync"):
        yield
