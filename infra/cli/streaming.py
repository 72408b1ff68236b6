"""`crm` subcommands of the streaming path: relay, consume, worker, and the local servers.

`relay`, `consume` and `worker` run until SIGTERM or SIGINT, then stop at a safe point and exit
0 (the worker exits 1 if one of its components died). They log with structlog to stderr at
INFO unless `CRM_LOG_LEVEL` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from consumers.kafka_common import Backoff
from consumers.kafka_consumer import ReadModelsConsumer, exit_after_db_commit_hook
from consumers.record_follower import RecordFollower
from consumers.relay import TRANSIENT
from consumers.store_reader import StoreReader
from consumers.topology import TopicChanged
from consumers.worker import Worker, stop_on_signals
from infra.cli.common import runtime
from infra.kafka_settings import kafka_config
from infra.logs import configure, get
from infra.runtime import Runtime
from projections import registry

log = get("cli")


def _long_running() -> threading.Event:
    configure(os.environ.get("CRM_LOG_LEVEL") or "INFO")
    stop = threading.Event()
    stop_on_signals(stop)
    return stop


def _batch_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100_000:
        raise argparse.ArgumentTypeError(f"a batch size is 1..100000, got {text!r}")
    return int(text)


def _open_store(rt: Runtime, stop: threading.Event, directory: bool = False) -> StoreReader | None:
    """The event store's reader (the directory's, with `directory`), retrying with backoff
    while the database is away (None if `stop` was set first)."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            return StoreReader(rt.directory if directory else rt.app)
        except TRANSIENT as error:
            log.warning("store_unavailable", error=str(error)[:300])
            stop.wait(backoff.next())
    return None


def run_relay(args: argparse.Namespace) -> int:
    stop = _long_running()
    rt = runtime(args)
    config = kafka_config(rt.settings)
    reader, directory = _open_store(rt, stop), _open_store(rt, stop, directory=True)
    if reader is None or directory is None:
        return 0
    relays = Worker(
        config,
        rt.stream_engine("read"),
        reader=reader,
        directory_reader=directory,
        write_engine=rt.stream_engine("write"),
        names=(),
        relay_batch_size=args.batch_size,
        stop_event=stop,
    )
    relays.start().wait()
    return 1 if relays.failed else 0


def run_consume(args: argparse.Namespace) -> int:
    stop = _long_running()
    rt = runtime(args)
    config = kafka_config(rt.settings)
    reader = _open_store(rt, stop)
    if reader is None:
        return 0
    consumer = ReadModelsConsumer(
        [registry.build(name) for name in dict.fromkeys(args.names)],
        rt.stream_engine("read"),
        config,
        after_db_commit=exit_after_db_commit_hook(),
        reader=reader,
    )
    try:
        consumer.run(stop)
    except TopicChanged as changed:
        print(f"crm: {changed}", file=sys.stderr)
        return 1
    return 0


def run_worker(args: argparse.Namespace) -> int:
    stop = _long_running()
    rt = runtime(args)
    config = kafka_config(rt.settings)
    reader, directory = _open_store(rt, stop), _open_store(rt, stop, directory=True)
    if reader is None or directory is None:
        return 0
    worker = Worker(
        config,
        rt.stream_engine("read"),
        reader=reader,
        directory_reader=directory,
        write_engine=rt.stream_engine("write"),
        relay_batch_size=args.batch_size,
        stop_event=stop,
        record=RecordFollower(rt.chain_engine, rt.record_logs()),
    )
    worker.start().wait()
    return 1 if worker.failed else 0


def run_services(args: argparse.Namespace) -> int:
    from infra import services

    return services.main([args.action, args.service])


def register(sub: Any) -> None:
    default_batch = os.environ.get("CRM_RELAY_BATCH_SIZE") or "1000"
    p = sub.add_parser("relay", help="publish the event stores' logs to Kafka (until SIGTERM)")
    p.add_argument(
        "--batch-size",
        type=_batch_size,
        default=default_batch,
        help="events per acknowledged batch (env CRM_RELAY_BATCH_SIZE; 1000)",
    )
    p.set_defaults(run=run_relay)
    p = sub.add_parser(
        "consume", help="feed read models from Kafka, each message decoded once (until SIGTERM)"
    )
    p.add_argument(
        "names",
        metavar="NAME",
        nargs="+",
        choices=list(registry.READ_MODELS),
        help=f"read models to feed ({', '.join(registry.READ_MODELS)})",
    )
    p.set_defaults(run=run_consume)
    p = sub.add_parser(
        "worker", help="the relay, every consumer and the record chain's follower in one process"
    )
    p.add_argument(
        "--batch-size",
        type=_batch_size,
        default=default_batch,
        help="the relay's events per batch (env CRM_RELAY_BATCH_SIZE; 1000)",
    )
    p.set_defaults(run=run_worker)
    p = sub.add_parser("services", help="start, stop or report the local PostgreSQL and Kafka")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("service", nargs="?", choices=("all", "postgres", "kafka"), default="all")
    p.set_defaults(run=run_services)
