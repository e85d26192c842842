"""A real S3 API server for the tests: OpenStack Swift (PyPI) with s3api and tempauth.

One account, container and object server and a proxy, each a process with
``workers = 0``, rings of one device, every path under the test's directory
(``swift_dir`` points Swift at our swift.conf, not /etc/swift), memcached
from Debian for tempauth. Credentials: ``test:tester`` / ``testing``.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "test:tester", "testing"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PROXY = """[pipeline:main]
pipeline = catch_errors proxy-logging cache s3api tempauth proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached}
[filter:s3api]
use = egg:swift#s3api
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
"""

_LAUNCH = (
    "import sys; from swift.common.wsgi import run_wsgi; "
    "sys.exit(run_wsgi(sys.argv[1], sys.argv[2]))"
)


_RINGS = """
import ast, sys
from swift.common.ring import RingBuilder
root, ports = sys.argv[1], ast.literal_eval(sys.argv[2])
for kind, port in ports.items():
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                     "device": "sdb1", "weight": 1})
    builder.rebalance()
    builder.get_ring().save(f"{root}/{kind}.ring.gz")
"""


def start(root: Path) -> tuple[int, list[subprocess.Popen[bytes]]]:
    """Start the servers; the proxy's port and the processes (to terminate)."""
    (root / "devices" / "sdb1").mkdir(parents=True, exist_ok=True)
    ports = {n: free_port() for n in ("account", "container", "object", "proxy", "memcached")}
    (root / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = confiance\nswift_hash_path_prefix = test\n"
        "[storage-policy:0]\nname = gold\ndefault = yes\n"
    )
    common = (
        f"[DEFAULT]\nswift_dir = {root}\ndevices = {root}/devices\nmount_check = false\n"
        "bind_ip = 127.0.0.1\nworkers = 0\nlog_level = WARNING\n"
    )
    # rings are built in a child process: importing swift here would let eventlet
    # patch this test process (its main thread then waits in eventlet's hub)
    rings = {kind: ports[kind] for kind in ("account", "container", "object")}
    subprocess.run([sys.executable, "-c", _RINGS, str(root), repr(rings)], check=True)
    for kind in ("account", "container", "object"):
        (root / f"{kind}.conf").write_text(
            common + f"bind_port = {ports[kind]}\n[pipeline:main]\npipeline = {kind}-server\n"
            f"[app:{kind}-server]\nuse = egg:swift#{kind}\n"
            f"[{kind}-replicator]\n[{kind}-updater]\n[{kind}-auditor]\n"
        )
    (root / "proxy.conf").write_text(
        common + f"bind_port = {ports['proxy']}\n" + _PROXY.format(memcached=ports["memcached"])
    )
    procs = [
        subprocess.Popen(
            ["memcached", "-l", "127.0.0.1", "-p", str(ports["memcached"]), "-U", "0", "-u", "root"]
        )
    ]
    for kind in ("account", "container", "object", "proxy"):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, str(root / f"{kind}.conf"), f"{kind}-server"]
            )
        )
    deadline = time.monotonic() + 30
    waiting = set(ports.values())
    while waiting and time.monotonic() < deadline:  # every server listens before we go
        for port in list(waiting):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    waiting.discard(port)
            except OSError:
                time.sleep(0.1)
    if not waiting:
        return ports["proxy"], procs
    for proc in procs:
        proc.terminate()
    raise RuntimeError("swift: the servers did not start")


def available() -> bool:
    # found, not imported: importing swift lets eventlet patch the test process
    return importlib.util.find_spec("swift") is not None and shutil.which("memcached") is not None
