"""Shared fixtures, and the grouping of test files between pytest-xdist's
workers."""

import contextlib

import pytest
from xdist.scheduler import LoadFileScheduling

#: The test files whose tests use the ``dask_client`` cluster. With
#: ``--dist loadfile`` (pyproject's addopts) each file is one unit of work for
#: a pytest-xdist worker; these files form a single unit instead, so that one
#: worker starts one cluster (each costs seconds to start, seconds for its
#: processes to import the package, and seconds to close) and the other worker
#: none. ``tests/test_scheduling.py`` checks that the list is complete.
CLUSTER_FILES = (
    "tests/test_dask.py",
    "tests/test_dask_fairness.py",
    "tests/test_dask_invariance.py",
    "tests/test_dask_privacy.py",
)


class OneClusterScheduling(LoadFileScheduling):
    """pytest-xdist's ``--dist loadfile``, with the files in
    :data:`CLUSTER_FILES` as one unit of work."""

    def _split_scope(self, nodeid):
        scope = super()._split_scope(nodeid)
        return "dask cluster" if scope in CLUSTER_FILES else scope


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    return OneClusterScheduling(config, log)


@pytest.fixture(scope="session")
def dask_client():
    """A dask.distributed client on a LocalCluster on loopback: two worker
    processes with one thread each, so every task is pickled, sent to a
    process that imports the package afresh, and its result pickled back.
    One cluster per test process; the files that use it run in the same
    pytest-xdist worker (:data:`CLUSTER_FILES`)."""
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


@pytest.fixture(params=["sync", pytest.param("cluster", marks=pytest.mark.slow)])
def dask_scheduler(request):
    """Each equality test of a dask route twice: on dask's synchronous
    scheduler in this process (the default run: every partition-wise code
    path, no other process), and on the session's LocalCluster, marked slow
    (``python -m pytest -m slow``; CI runs it): the tasks pickled, run in
    processes that import the package afresh, and their results pickled back.
    Yields the cluster's client, or None on the synchronous scheduler."""
    if request.param == "cluster":
        return request.getfixturevalue("dask_client")
    request.getfixturevalue("dask_sync")
    return None


def task_stream(client):
    """The cluster's task stream while a block runs (``stream.data`` lists the
    tasks), or None on the synchronous scheduler."""
    if client is None:
        return contextlib.nullcontext()
    from dask.distributed import get_task_stream

    return get_task_stream(client)


def ran_on_the_workers(client, stream):
    """Whether the tasks of ``stream`` ran on the cluster's workers (always
    true on the synchronous scheduler, where there are none)."""
    if client is None:
        return True
    workers = {task["worker"] for task in stream.data}
    return bool(workers) and workers <= set(client.scheduler_info()["workers"])


@pytest.fixture
def dask_sync():
    """Dask's synchronous scheduler, in this process: for the checks of a dask
    route that need passes over partitions but not another process (the
    cluster tests cover pickling and remote execution)."""
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="sync"):
        yield
