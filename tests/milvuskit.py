"""Start what the Milvus tests need: a `milvus-lite server` on an ephemeral 127.0.0.1 port (stopped after),
or a Milvus Lite file in tmp_path. Both skip cleanly when the `scale` extra is not installed."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 60.0


def require_milvus() -> None:
    pytest.importorskip("pymilvus", reason="the Milvus store needs the 'scale' extra (pip install -e '.[scale]')")
    pytest.importorskip("milvus_lite", reason="Milvus Lite is part of the 'scale' extra")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command() -> list[str]:
    exe = shutil.which("milvus-lite") or str(Path(sys.executable).with_name("milvus-lite"))
    return [exe, "server"]


@contextlib.contextmanager
def milvus_server(data_dir: Path) -> Iterator[str]:
    """A `milvus-lite server` on 127.0.0.1 (ephemeral port): yields its http:// URI; stopped on exit."""
    require_milvus()
    from pymilvus import MilvusClient

    port = free_port()
    log = open(data_dir.parent / f"milvus-{port}.log", "w")
    proc = subprocess.Popen([*server_command(), "--data-dir", str(data_dir), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited ({proc.returncode}); see {log.name}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                client = MilvusClient(uri=uri, timeout=5)
                client.list_collections()
                client.close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"milvus-lite server not ready within {START_TIMEOUT}s") from None
                time.sleep(0.3)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
        log.close()


@pytest.fixture(scope="module")
def server_uri(tmp_path_factory):
    """A milvus-lite server on an ephemeral 127.0.0.1 port for the test module, stopped after it."""
    require_milvus()
    with milvus_server(tmp_path_factory.mktemp("milvus-server") / "data") as uri:
        yield uri


@pytest.fixture(params=["lite", "server"])
def store_uri(request, tmp_path):
    """A --store address: a Milvus Lite file, then the module's milvus-lite server."""
    require_milvus()
    if request.param == "lite":
        return f"milvus:{tmp_path / 'vectors.db'}"
    return "milvus:" + request.getfixturevalue("server_uri")
