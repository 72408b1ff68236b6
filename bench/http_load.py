"""A light closed-loop HTTP/1.1 load generator for the staff API bench, in processes of its own.

`Load(processes)` starts worker processes (spawned: they import nothing but the standard
library). `Load.run(host, port, request, status, n, clients)` spreads `clients` keep-alive
connections over the workers (threads in each, one plain socket per thread, `TCP_NODELAY`),
connects them all, then starts them together: each client sends its next request when the
whole answer to its last has arrived, until the run's `n` requests are sent. Each answer is
read in full (by its `Content-Length`) and checked for its status; every `SAMPLE_EVERY`-th
answer's body is handed back whole for the caller to decode and check, so the client's cost
per answer stays a header parse and a copy of the bytes.

The run's time is from the earliest client's start to the latest client's end
(`time.perf_counter` is the system-wide monotonic clock on Linux, so the processes' readings
compare); latencies are per request, in ms."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

SAMPLE_EVERY = 25
RECV = 1 << 18


class Failed(RuntimeError):
    """An answer with a status other than the one expected, or a broken answer."""


def request_bytes(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    """A whole HTTP/1.1 request, sent as is by the clients of a run."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _answer(sock: socket.socket, pending: bytearray) -> tuple[int, bytes]:
    """Reads one answer (status, body) off `sock`; bytes read past it stay in `pending`."""
    while (end := pending.find(b"\r\n\r\n")) < 0:
        got = sock.recv(RECV)
        if not got:
            raise ConnectionError("the server closed the connection")
        pending += got
    head = bytes(pending[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = None
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            raise Failed("a chunked answer: this generator reads answers with a length only")
    if length is None:
        raise Failed(f"an answer without Content-Length: {head[0]}")
    start = end + 4
    while len(pending) - start < length:
        got = sock.recv(max(RECV, length - (len(pending) - start)))
        if not got:
            raise ConnectionError("the server closed the connection mid-answer")
        pending += got
    body = bytes(pending[start : start + length])
    del pending[: start + length]
    return status, body


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=300)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Run:
    """One job in a worker process: `threads` clients sharing `n` requests."""

    def __init__(self, requests: tuple[bytes, ...], status: int, n: int) -> None:
        self.requests, self.status, self.n, self.left = requests, status, n, n
        self.lock = threading.Lock()
        self.go = threading.Event()
        self.latencies: list[float] = []
        self.samples: list[bytes] = []
        self.errors: list[str] = []
        self.times: list[tuple[float, float]] = []

    def _next(self) -> int:
        """The number of this client's next request (from 1), or 0 when all are sent."""
        with self.lock:
            if self.left <= 0:
                return 0
            self.left -= 1
            return self.n - self.left

    def client(self, sock: socket.socket) -> None:
        pending = bytearray()
        mine: list[float] = []
        self.go.wait()
        t_start = time.perf_counter()
        try:
            while count := self._next():
                t0 = time.perf_counter()
                sock.sendall(self.requests[count % len(self.requests)])
                got, body = _answer(sock, pending)
                mine.append(1000 * (time.perf_counter() - t0))
                if got != self.status:
                    raise Failed(f"status {got}, not {self.status}: {body[:300]!r}")
                if count % SAMPLE_EVERY == 1:
                    with self.lock:
                        self.samples.append(body)
        except (OSError, ValueError, IndexError, Failed) as error:  # handed back, then raised
            with self.lock:
                self.errors.append(f"{type(error).__name__}: {error}")
                self.left = 0
        finally:
            with self.lock:
                self.latencies.extend(mine)
                self.times.append((t_start, time.perf_counter()))


def _worker(conn: Connection) -> None:
    """A worker process: runs each job it is sent, answers with its readings."""
    while True:
        job = conn.recv()
        if job is None:
            return
        host, port, requests, status, n, threads = job
        run = _Run(requests, status, n)
        socks = [_connect(host, port) for _ in range(threads)]
        clients = [threading.Thread(target=run.client, args=(s,)) for s in socks]
        for c in clients:
            c.start()
        conn.send("ready")
        conn.recv()  # go
        run.go.set()
        for c in clients:
            c.join()
        for s in socks:
            s.close()
        conn.send(
            (
                min(t for t, _ in run.times),
                max(t for _, t in run.times),
                run.latencies,
                run.samples,
                run.errors,
            )
        )


@dataclass
class Load:
    """Worker processes, started once and used by every run."""

    processes: int = 2
    _pipes: list[Connection] = field(default_factory=list)
    _procs: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        for _ in range(self.processes):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(theirs,), daemon=True)
            proc.start()
            self._pipes.append(mine)
            self._procs.append(proc)

    def run(
        self,
        host: str,
        port: int,
        request: bytes | tuple[bytes, ...],
        status: int,
        n: int,
        clients: int,
    ) -> tuple[float, list[float], list[bytes]]:
        """`n` requests from `clients` clients; (seconds, latencies in ms, sampled bodies).
        Given several requests, the clients send them in turn (each its own resident's
        lodgement, say)."""
        requests = (request,) if isinstance(request, bytes) else request
        clients = min(clients, n)
        used = min(self.processes, clients)
        shares = [clients // used + (1 if i < clients % used else 0) for i in range(used)]
        ns = [n * s // clients for s in shares]
        ns[0] += n - sum(ns)
        for pipe, threads, k in zip(self._pipes, shares, ns, strict=False):
            pipe.send((host, port, requests, status, k, threads))
        for pipe in self._pipes[:used]:
            if pipe.recv() != "ready":
                raise Failed("a load worker did not start")
        for pipe in self._pipes[:used]:
            pipe.send("go")
        results = [pipe.recv() for pipe in self._pipes[:used]]
        errors = [e for r in results for e in r[4]]
        if errors:
            raise Failed("; ".join(errors[:3]))
        seconds = max(r[1] for r in results) - min(r[0] for r in results)
        return seconds, [x for r in results for x in r[2]], [b for r in results for b in r[3]]

    def close(self) -> None:
        for pipe in self._pipes:
            pipe.send(None)
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
