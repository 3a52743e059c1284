"""Running an ASGI app with uvicorn on a socket we bind ourselves: a taken port is one clear error before
anything starts, port 0 gives an ephemeral one (tests, benchmarks), and a server can run in a thread."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

from index.errors import SemsearchError

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


class MissingExtra(SemsearchError):
    def __init__(self, command: str, modules: list[str]) -> None:
        super().__init__(
            f"`semsearch {command}` needs {', '.join(modules)}, which are not installed; install them with "
            f"pip install 'semsearch[serve]' (or pip install {' '.join(modules)})"
        )


def require(command: str, *modules: str) -> None:
    """MissingExtra naming the modules of the `serve` extra that ``command`` needs and cannot import."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(command, missing)


class CannotListen(SemsearchError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({reason}); pick another --port or stop what uses it")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port; read it from sock.getsockname())."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and without it
        # every response waits ~40 ms for the client's delayed ACK (headers and body are two writes)
        sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise CannotListen(host, port, exc.strerror or str(exc)) from None
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app, sock: socket.socket, *, log_level: str = "warning"):
    import uvicorn

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def serve_forever(app, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Run until Ctrl-C / SIGTERM (uvicorn's own handlers: finish the requests in flight, then stop)."""
    uvicorn_server(app, sock, log_level=log_level).run(sockets=[sock])


class ThreadedServer:
    """uvicorn in a background thread, for tests and benchmarks: ``with ThreadedServer(app) as url: ...``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = bind_socket(host, port)
        self.server = uvicorn_server(app, self.sock)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        host, port = self.sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 20.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
