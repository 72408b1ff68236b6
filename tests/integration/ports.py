"""Loopback ports for tests: free ones for servers of their own, and ones another program holds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

HOST = "127.0.0.1"


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(consecutive: int = 1) -> int:
    """A port free on loopback now, followed by ``consecutive - 1`` free ones (Kafka uses two)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port + consecutive <= 65535 and all(
            _bindable(p) for p in range(port, port + consecutive)
        ):
            return port
    raise RuntimeError(f"no {consecutive} consecutive free ports on {HOST}")


@contextmanager
def held(port: int, *, listening: bool = True) -> Iterator[int]:
    """Holds ``port`` the way another program would: bound, and listening unless told not to."""
    with socket.socket() as sock:
        sock.bind((HOST, port))
        if listening:
            sock.listen()
        yield port
