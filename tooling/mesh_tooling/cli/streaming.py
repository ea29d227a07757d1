"""`meshctl lag`, `meshctl produce` and `meshctl broker`: the stream seen from a terminal."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

DEFAULT_TOPIC = "clicks"
DEFAULT_STREAM = "clicks"
DEFAULT_PARTITIONS = 4


def cmd_lag(args: argparse.Namespace) -> int:
    from platform_core.streaming.lag import lag_table
    from platform_core.streaming.resource import kafka_client_from_env

    kafka = kafka_client_from_env()
    lag = kafka.lag(args.topic, args.stream)
    print(f"consumer group {kafka.group_id(args.stream)} @ {kafka.bootstrap_servers}")
    print(lag_table(lag))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from platform_core.streaming.resource import kafka_client_from_env

    from mesh_tooling.sample.clicks import produce_clicks

    kafka = kafka_client_from_env()
    kafka.ensure_topic(args.topic, args.partitions)
    report = produce_clicks(
        kafka, args.topic, None if args.forever else args.count, args.rate, args.malformed_every
    )
    print(
        f"sent {report.sent} messages ({report.malformed} malformed) to '{args.topic}' "
        f"in {report.seconds:.1f} s ({report.rate:,.0f} msg/s)"
    )
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from platform_core.environment import current_environment

    from mesh_tooling.servers.kafka_broker import broker_command

    data_dir = current_environment().mesh_home / "kafka"
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"Kafka broker (noida-db) on 127.0.0.1:{args.port}, data in {data_dir}; Ctrl-C stops it")
    return subprocess.call(broker_command(data_dir, args.port))


def start_local_stream(
    mesh_home: Path, rate: float, port: int
) -> list[tuple[str, subprocess.Popen]]:
    """For `meshctl dev`: the local broker on `port` (unless MESH_KAFKA_BOOTSTRAP_SERVERS names
    one) and a producer at `rate` msg/s, each in its own process group. Sets the variable, so
    the stream sensors of `dagster dev` start running."""
    from platform_core.streaming.resource import BOOTSTRAP_ENV

    from mesh_tooling.servers.kafka_broker import start_broker

    processes = []
    if not os.environ.get(BOOTSTRAP_ENV):
        processes.append(("broker", start_broker(mesh_home / "kafka", port)))
        os.environ[BOOTSTRAP_ENV] = f"127.0.0.1:{port}"
    log = (mesh_home / "producer.log").open("ab")
    producer = [sys.executable, "-m", "mesh_tooling.cli.main", "produce", "--forever"]
    producer += ["--rate", str(rate), "--malformed-every", "500"]
    processes.append(
        (
            "producer",
            subprocess.Popen(
                producer,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
            ),
        )
    )
    print(f"click-stream: broker {os.environ[BOOTSTRAP_ENV]}, producer at {rate:g} msg/s")
    return processes


def add_stream_commands(sub: argparse._SubParsersAction) -> None:
    lag = sub.add_parser("lag", help="per partition: committed offset, high watermark, lag")
    lag.add_argument("--topic", default=DEFAULT_TOPIC)
    lag.add_argument(
        "--stream", default=DEFAULT_STREAM, help="its consumer group is <prefix><stream>"
    )
    lag.set_defaults(func=cmd_lag)

    produce = sub.add_parser("produce", help="send sample click events to Kafka at a rate")
    produce.add_argument("--topic", default=DEFAULT_TOPIC)
    produce.add_argument("--count", type=int, default=10_000)
    produce.add_argument("--forever", action="store_true", help="until Ctrl-C")
    produce.add_argument("--rate", type=float, default=0.0, help="messages/s (0: max)")
    produce.add_argument("--malformed-every", type=int, default=0, help="every n-th is broken")
    produce.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    produce.set_defaults(func=cmd_produce)

    broker = sub.add_parser("broker", help="run the local Kafka broker in the foreground")
    broker.add_argument("--port", type=int, default=19092)
    broker.set_defaults(func=cmd_broker)
