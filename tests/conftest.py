"""Fixtures shared by several test folders."""

import pytest


@pytest.fixture(scope="module")
def cluster_address():
    """Address of a 2-worker dask.distributed LocalCluster (threads, no dashboard)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
