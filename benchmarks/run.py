"""Benchmarks, each beside its baseline measured in the same run: the chassis alone, then the platform.

    make bench                 # or: .venv/bin/python -m benchmarks.run [--quick] [--only chassis|e2e]

The chassis' hot paths:

- grpc unary: the chassis server (JWT auth, metrics, logs, tracing, error mapping) against a bare
  grpc.aio server, at concurrency 1 and 16;
- publish: events committed to the outbox until Kafka acknowledged them (outbox relay) against the
  same records sent straight by an idempotent producer;
- consume: the idempotent consumer (inbox row + handler in one transaction, manual commits) against
  a plain aiokafka consumer reading the same records.

Then the whole platform under a realistic load (`e2e.py`: booking, event freshness, chat delivery,
memory per service) beside a bare grpc.aio echo server and a bare Kafka round trip.

Numbers are printed, not asserted: they depend on the machine (2 cores here). Kafka and PostgreSQL
are the real ones from the dev stack, started on free ports for the run and stopped after it.
Results: `.run/bench/results.json` and `.run/bench/results.md` (docs/performance.md explains them).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from benchmarks import e2e
from benchmarks.e2e import Echo
from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide_chassis import db
from confide_chassis.auth import PUBLIC, allow
from confide_chassis.consumer import IdempotentConsumer
from confide_chassis.events import ConsumedEvent, OutgoingEvent, build_headers
from confide_chassis.ids import new_id_str
from confide_chassis.logging import configure_logging
from confide_chassis.outbox import OutboxRelay, new_producer
from confide_chassis.service import ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings
from confide_chassis.testkit import TokenFactory
from confide_devstack.kafka import KafkaBroker
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import new_topic

ROOT = Path(__file__).resolve().parents[1]
SERVICE = devtest_pb2.DESCRIPTOR.services_by_name["SampleService"].full_name


@dataclasses.dataclass
class Result:
    name: str
    variant: str
    count: int
    seconds: float
    latencies_ms: list[float] = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def row(self) -> str:
        p50 = p99 = "-"
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            p50 = f"{statistics.median(ordered):.2f}"
            p99 = f"{ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]:.2f}"
        return f"| {self.name} | {self.variant} | {self.count} | {self.rate:,.0f}/s | {p50} | {p99} |"


async def _drive(port: int, total: int, concurrency: int, metadata: Any) -> tuple[float, list[float]]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = devtest_pb2_grpc.SampleServiceStub(channel)
        await stub.Echo(devtest_pb2.EchoRequest(text="warm"), metadata=metadata)
        latencies: list[float] = []
        per_worker = total // concurrency

        async def worker() -> None:
            for _ in range(per_worker):
                started = time.perf_counter()
                await stub.Echo(devtest_pb2.EchoRequest(text="x"), metadata=metadata)
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies


async def bench_grpc(bootstrap: str, total: int) -> list[Result]:
    # Signed as identity signs, with its lifetime (the verifier refuses tokens that live longer).
    tokens = TokenFactory(kid="bench")
    metadata = tokens.metadata(new_id_str(), new_id_str(), "clinician")
    results = []
    for concurrency in (1, 16):
        bare = grpc.aio.server()
        devtest_pb2_grpc.add_SampleServiceServicer_to_server(Echo(), bare)
        port = bare.add_insecure_port("127.0.0.1:0")
        await bare.start()
        seconds, lat = await _drive(port, total, concurrency, None)
        await bare.stop(0)
        results.append(Result(f"grpc unary c={concurrency}", "baseline: bare grpc.aio", total, seconds, lat))

        async def configure(ctx: ServiceContext) -> None:
            devtest_pb2_grpc.add_SampleServiceServicer_to_server(Echo(), ctx.server)
            ctx.add_grpc_service(SERVICE, {"Echo": allow("clinician"), "Fail": PUBLIC})

        running = await start(
            ServiceSpec(name="bench", settings_type=ServiceSettings, configure=configure),
            ServiceSettings(service_name="bench", grpc_port=0, kafka_bootstrap_servers=bootstrap),
            verifier=tokens.verifier,
        )
        seconds, lat = await _drive(running.port, total, concurrency, metadata)
        await running.stop(grace=0)
        results.append(
            Result(f"grpc unary c={concurrency}", "chassis (JWT, metrics, logs, traces)", total, seconds, lat)
        )
    return results


def _events(topic: str, count: int) -> list[OutgoingEvent]:
    aggregates = [new_id_str() for _ in range(50)]
    return [
        dataclasses.replace(
            OutgoingEvent.from_message(devtest_pb2.SampleHappened(sample_id=aggregates[i % 50], sequence=i)),
            topic=topic,
        )
        for i in range(count)
    ]


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    began = time.perf_counter()
    await fn()
    return time.perf_counter() - began


async def bench_outbox_and_consumer(bootstrap: str, cluster: PostgresCluster, count: int) -> list[Result]:
    url = await cluster.create_database_async(f"bench_{new_id_str().replace('-', '')[:12]}")
    engine = db.create_engine(url)
    await db.install_messaging_tables(engine)
    sessions = db.session_factory(engine)
    producer = new_producer(bootstrap, client_id="bench")
    await producer.start()
    results = []
    try:
        baseline_topic = await new_topic(bootstrap, partitions=3)
        events = _events(baseline_topic, count)

        async def send_directly() -> None:
            futures = []
            for e in events:
                headers = build_headers(
                    event_id=e.event_id, event_type=e.event_type, source="//bench", occurred_at=e.occurred_at
                )
                futures.append(
                    await producer.send(e.topic, value=e.payload, key=e.key.encode(), headers=headers)
                )
            await asyncio.gather(*futures)

        results.append(Result("publish", "baseline: producer.send", count, await _timed(send_directly)))

        topic = await new_topic(bootstrap, partitions=3)
        events = _events(topic, count)
        for start_at in range(0, count, 500):
            async with db.UnitOfWork(sessions) as uow:
                uow.publish(*events[start_at : start_at + 500])
                await uow.commit()
        relay = OutboxRelay(engine, producer, service="bench", batch_size=500)
        results.append(
            Result("publish", "outbox relay (claim, send, mark)", count, await _timed(relay.drain))
        )

        async def read_plain() -> None:
            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=bootstrap,
                group_id=f"plain-{new_id_str()}",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await consumer.start()
            seen = 0
            while seen < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += len(records)
            await consumer.stop()

        results.append(Result("consume", "baseline: plain aiokafka", count, await _timed(read_plain)))

        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_effects (event_id text, n int)"))
        done = asyncio.Event()
        handled = 0

        async def handler(session: AsyncSession, event: ConsumedEvent) -> None:
            nonlocal handled
            message = event.unpack(devtest_pb2.SampleHappened)
            await session.execute(
                text("INSERT INTO bench_effects VALUES (:e, :n)"),
                {"e": event.event_id, "n": message.sequence},
            )
            handled += 1
            if handled >= count:
                done.set()

        idempotent = IdempotentConsumer(
            name=f"bench-{new_id_str()}",
            service="bench",
            topics=[topic],
            handler=handler,
            sessions=sessions,
            bootstrap_servers=bootstrap,
            dlq_topic=baseline_topic,
            dlq_producer=producer,
        )

        async def read_idempotent() -> None:
            stop = asyncio.Event()
            await idempotent.start()
            task = asyncio.create_task(idempotent.run(stop))
            await done.wait()
            stop.set()
            await task
            await idempotent.stop()

        results.append(
            Result(
                "consume", "idempotent consumer (inbox + handler tx)", count, await _timed(read_idempotent)
            )
        )
    finally:
        await producer.stop()
        await engine.dispose()
    return results


def _chassis_table(results: list[Result]) -> str:
    lines = ["| benchmark | variant | n | rate | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    return "\n".join(lines + [result.row() for result in results]) + "\n"


async def bench_chassis(run_dir: Path, quick: bool) -> list[Result]:
    await asyncio.to_thread(shutil.rmtree, run_dir, ignore_errors=True)
    await asyncio.to_thread(run_dir.mkdir, parents=True)
    rpc_total, event_total = (400, 1000) if quick else (4000, 10000)
    with PostgresCluster(run_dir / "pg") as cluster, KafkaBroker(run_dir / "kafka") as broker:
        results = await bench_grpc(broker.bootstrap_servers, rpc_total)
        results += await bench_outbox_and_consumer(broker.bootstrap_servers, cluster, event_total)
    shutil.rmtree(run_dir, ignore_errors=True)
    return results


async def main(quick: bool, only: str | None) -> None:
    configure_logging("bench", "WARNING")
    out = ROOT / ".run" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    text = ""
    if only in (None, "chassis"):
        results = await bench_chassis(out / "chassis", quick)
        report["chassis"] = [
            {"benchmark": r.name, "variant": r.variant, "count": r.count, "rate_per_s": round(r.rate, 1)}
            for r in results
        ]
        text += "## Chassis, each beside its baseline\n\n" + _chassis_table(results)
        print(text)  # noqa: T201
    if only in (None, "e2e"):
        work = out / "e2e"
        shutil.rmtree(work, ignore_errors=True)
        try:
            report["e2e"] = await e2e.run_e2e(work, quick)
        finally:  # keep the services' logs of the run (small), not its Kafka and PostgreSQL data
            await asyncio.to_thread(shutil.rmtree, out / "logs", ignore_errors=True)
            if (work / "stack" / "logs").is_dir():
                await asyncio.to_thread(shutil.copytree, work / "stack" / "logs", out / "logs")
            await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)
        section = "## The whole platform under load, beside its baselines\n\n" + e2e.markdown(report["e2e"])
        print(section)  # noqa: T201
        text += "\n" + section
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["load_generator_peak_rss_mib"] = round(peak_mb, 1)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "results.md").write_text(text, encoding="utf-8")
    print(f"peak RSS of the benchmark process: {peak_mb:.0f} MiB")  # noqa: T201
    print(f"results: {out / 'results.json'} and {out / 'results.md'}")  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Confide benchmarks, each beside its baseline")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument(
        "--only", choices=["chassis", "e2e"], help="one part: the chassis alone, or the whole platform"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.only))
