"""One Redis, not a Redis Cluster (docs/SCALING.md, "Redis"): the buffer is one stream and its
counters, moved together by scripts, so a cluster would hold it in one slot of one node behind a
client that does not follow MOVED. Given a cluster node, every process refuses to start, saying
so, rather than fail at the first reading."""

from __future__ import annotations

import pytest

from tests.support.private_servers import PrivateRedis
from tools.local import free_port
from tools.stack import procfile


@pytest.fixture
def cluster_node(tmp_path):
    # The cluster bus port, else the port + 10,000 (past 65,535 for a high free port).
    bus = str(free_port())
    node = PrivateRedis(
        tmp_path / "node", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        "--cluster-port", bus, persistent=False,
    )  # fmt: skip
    node.start()
    yield node
    node.kill()


@pytest.mark.parametrize("process", ["web", "worker", "ocpp"])
def test_each_process_refuses_a_redis_cluster_node_by_name(service, cluster_node, process):
    service.env["REDIS_URL"] = cluster_node.url
    started = service.start(f"{process}-on-cluster", command=procfile()[process])
    assert started.wait(60) == 1
    log = service.log(f"{process}-on-cluster")
    assert f"ev {process} refuses to start: REDIS_URL is a Redis Cluster node" in log
    assert 'docs/SCALING.md, "Redis"' in log
