"""S3 nodes against a real S3 API server (OpenStack Swift with s3api) on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.store import swift
from tests.store.helpers import FixedKeys

from confiance.errors import StoreError
from confiance.store import NodeUnavailable, ObjectStore, node_from_config
from confiance.store.s3 import S3Node, create_bucket

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not swift.available(), reason="swift (dev extra) or memcached missing"),
]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port, procs = swift.start(tmp_path_factory.mktemp("swift"))
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = (
        swift.ACCESS_KEY,
        swift.SECRET_KEY,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


class CuttingProxy:
    """A TCP relay to the server that cuts every connection after ``limit`` reply bytes
    once ``cut`` is set: the node becomes unreachable in the middle of a read."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.cut = threading.Event()
        self.limit = 1000
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, reply: bool) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if reply and self.cut.is_set() and sent + len(data) > self.limit:
                    sink.sendall(data[: max(0, self.limit - sent)])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def test_an_object_store_over_s3_nodes_survives_a_node_cut_mid_read(endpoint: str) -> None:
    port = int(endpoint.rsplit(":", 1)[1])
    proxy = CuttingProxy(port)
    nodes = []
    for i in range(6):
        url = f"http://127.0.0.1:{proxy.port}" if i == 0 else endpoint
        node = S3Node(f"s3-{i}", url, f"dc{i}", timeout=3.0)
        create_bucket(node)
        nodes.append(node)
    keys = FixedKeys()
    store = ObjectStore(nodes, k=4, m=2, manifest_keys=keys, segment_size=2**20)
    data = os.urandom(5 * 2**20 + 123)
    manifest = store.put("ab" * 16, data, attributes={"tenant": "lycees"})
    assert store.get("ab" * 16, manifest_digest=manifest.digest()) == data
    assert store.scrub(manifest).healthy
    index = manifest.nodes().index("s3-0")
    listed = list(nodes[0].list("objects/"))
    assert [b.key for b in listed] == [f"objects/ab/{'ab' * 16}.{index}"]
    assert listed[0].size == manifest.fragment_size
    proxy.cut.set()  # s3-0 now dies after 1,000 bytes of every answer
    with pytest.raises(NodeUnavailable, match=r"node s3-0: read of .* failed"):
        nodes[0].get(listed[0].key)
    assert store.get("ab" * 16, manifest_digest=manifest.digest()) == data
    report = store.scrub(manifest)
    assert report.unreachable == (index,) and not report.missing and not report.corrupt
    proxy.cut.clear()
    # a corrupted fragment on S3 is found and rebuilt in place
    other = (index + 1) % 6
    key = f"objects/ab/{'ab' * 16}.{other}"
    holder = next(n for n in nodes if n.name == manifest.nodes()[other])
    rotten = bytearray(holder.get(key) or b"")
    rotten[10] ^= 1
    holder.put(key, bytes(rotten))
    result = store.repair(manifest)
    assert result.before.corrupt == (other,) and result.after.healthy
    assert holder.get(key) != bytes(rotten)
    # read by ranges of one segment: a fragment cut short answers 416 past its end
    windowed = ObjectStore(
        nodes, k=4, m=2, manifest_keys=keys, segment_size=2**20, window_bytes=2**20
    )
    whole = holder.get(key) or b""
    holder.put(key, whole[:100])
    assert holder.get_range(key, 2**20, 10) == b"" and holder.get_range("nothing", 0, 1) is None
    cut = windowed.scrub(manifest)
    assert cut.corrupt == (other,) and cut.bad_segments == len(manifest.fragment_sizes)
    assert windowed.repair(manifest).after.healthy and holder.get(key) == whole
    holder.delete(key)
    assert holder.get(key) is None
    proxy.server.close()


def test_s3_node_configuration_and_unreachable_servers(endpoint: str, tmp_path: Path) -> None:
    node = node_from_config(
        {"name": "paris", "kind": "s3", "endpoint": endpoint, "bucket": "paris-1"}, base=tmp_path
    )
    assert isinstance(node, S3Node) and node.config()["bucket"] == "paris-1"
    with pytest.raises(NodeUnavailable, match="node paris: bucket check failed"):
        node.check()  # the bucket does not exist yet
    create_bucket(node)
    create_bucket(node)  # twice is fine
    node.check()
    with pytest.raises(StoreError, match="invalid key"):
        node.put("../x", b"")
    dead = S3Node("gone", f"http://127.0.0.1:{swift.free_port()}", "b", timeout=1.0)
    with pytest.raises(NodeUnavailable, match="node gone: bucket check failed"):
        dead.check()
    with pytest.raises(NodeUnavailable, match="node gone: read of k failed"):
        dead.get("k")
