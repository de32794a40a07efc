"""The neighbour search runs unchanged on a Dask cluster through joblib."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

from service.recommender import Document, RelatedIndex
from tests.factories import corpus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("dask"),
    # distributed's own teardown leaves sockets for the garbage collector.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    # A dashboard port held by another process only moves the dashboard elsewhere.
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
]


def documents() -> list[Document]:
    return [
        Document(id=r["id"], title=r["title"], body=r["body"], tags=tuple(r["tags"]), category=r["category"])
        for r in corpus(12)
    ]


@pytest.mark.parametrize("exact_below", [10_000, 0], ids=["exact", "pruned"])
def test_a_dask_cluster_builds_exactly_the_local_index(exact_below: int) -> None:
    distributed = pytest.importorskip("dask.distributed")
    params = {"n_neighbors": 8, "block_size": 7, "exact_below": exact_below}
    local = RelatedIndex(n_jobs=1, **params).fit(documents())
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_config(backend="dask", n_jobs=-1),
    ):
        with distributed.get_task_stream(client) as stream:
            remote = RelatedIndex(**params).fit(documents())
        workers = {task["worker"] for task in stream.data}
        assert len(stream.data) >= 48 // 7 and len(workers) == 2  # every block ran on the cluster
    np.testing.assert_array_equal(remote.neighbours_, local.neighbours_)
    np.testing.assert_array_equal(remote.scores_, local.scores_)
    np.testing.assert_array_equal(remote.groups_, local.groups_)
