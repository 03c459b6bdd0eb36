"""What the platform emits, collected for the PHI canary test: every place a value could leak to.

Each collector returns `Sink`s: a name and the raw text or bytes as the outside world would see them
(log lines, a /metrics page, a Kafka record's key, headers and value, a serialized span, an e-mail,
a database row). A canary is searched as raw bytes: protobuf strings are UTF-8 on the wire, so a
string field that carries a canary carries its bytes unchanged; PostgreSQL prints `bytea` as hex, so
database rows are also searched for the canary's hex.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from .conftest import Platform


@dataclass(frozen=True)
class Sink:
    """One thing a reader outside the owning service could see."""

    kind: str  # "log", "metrics", "kafka", "span", "email", "identity-mail", "database"
    where: str  # which file, service, topic/partition/offset, recipient, database table
    data: bytes

    def contains(self, needle: str) -> bool:
        raw = needle.encode()
        if raw in self.data:
            return True
        # PostgreSQL renders bytea as \x<hex>: a protobuf or a stored string inside one is hex there.
        return self.kind == "database" and raw.hex().encode() in self.data


def log_sinks(platform: Platform) -> list[Sink]:
    """Every service's log, the migrate/seed logs, the runner's console output and its stderr."""
    sinks = [Sink("log", name, path.read_bytes()) for name, path in platform.log_files().items()]
    sinks.append(Sink("log", "runner output", "".join(platform.output).encode()))
    stderr = platform.run_dir.parent / "e2e-stack.log"
    if stderr.exists():
        sinks.append(Sink("log", stderr.name, stderr.read_bytes()))
    return sinks


async def metrics_sinks(platform: Platform) -> list[Sink]:
    async def scrape(session: aiohttp.ClientSession, service: str) -> Sink:
        async with session.get(platform.metrics_url(service)) as reply:
            assert reply.status == 200, f"{service} /metrics answered {reply.status}"
            return Sink("metrics", service, await reply.read())

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(scrape(session, name) for name in sorted(platform.ports))))


async def kafka_sinks(bootstrap_servers: str, since_ms: int) -> list[Sink]:
    """Every record of every topic written since `since_ms` (broker time), one sink per record.

    Seeking by time instead of reading from offset 0 keeps this quick when the broker is shared by a
    whole test session: the canaries did not exist before `since_ms`, so older records cannot hold them.
    Kafka's own internal topics (`__consumer_offsets`) hold group bookkeeping, not service records.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        if not partitions:
            return []
        starts = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        ends = await consumer.end_offsets(partitions)
        wanted = {
            tp: found.offset for tp, found in starts.items() if found is not None and found.offset < ends[tp]
        }
        if not wanted:
            return []
        consumer.assign(list(wanted))
        for tp, offset in wanted.items():
            consumer.seek(tp, offset)
        sinks: list[Sink] = []
        remaining = set(wanted)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    headers = b"".join(
                        name.encode() + b"=" + (value or b"") + b"\n" for name, value in record.headers
                    )
                    sinks.append(
                        Sink(
                            "kafka",
                            f"{tp.topic}[{tp.partition}]@{record.offset}",
                            b"key="
                            + (record.key or b"")
                            + b"\n"
                            + headers
                            + b"value="
                            + (record.value or b""),
                        )
                    )
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sinks
    finally:
        await consumer.stop()


def span_sinks(platform: Platform) -> list[Sink]:
    """Every exported span, serialized: name, every attribute, event, link and status at once."""
    return [
        Sink("span", f"{received.service}:{received.name}", received.span.SerializeToString())
        for received in platform.spans.spans()
    ]


@dataclass(frozen=True)
class CapturedEmail:
    recipients: tuple[str, ...]  # the SMTP envelope's RCPT TO
    message: Message

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def everything_but_the_recipient(self) -> bytes:
        """Subject, body and every header but To: where the recipient's own address has no business."""
        headers = "".join(
            f"{name}: {value}\n" for name, value in self.message.items() if name.lower() != "to"
        )
        body = self.message.get_payload(decode=True)
        return headers.encode() + b"\n" + (body if isinstance(body, bytes) else str(body).encode())


def captured_emails(platform: Platform) -> list[CapturedEmail]:
    return [
        CapturedEmail(tuple(envelope.rcpt_tos), message) for envelope, message in platform.mail.messages()
    ]


def identity_dev_mail(platform: Platform) -> list[tuple[Path, dict[str, str]]]:
    """The e-mails identity wrote in dev mode (verification, password reset): one JSON file each."""
    folder = platform.run_dir / "mail" / "identity"
    return [(path, json.loads(path.read_text(encoding="utf-8"))) for path in sorted(folder.glob("*.json"))]


async def database_sinks(platform: Platform) -> list[Sink]:
    """Every row of every table of every service's database, as PostgreSQL prints it."""
    sinks: list[Sink] = []
    for service, url in sorted(platform.database_urls.items()):
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            tables: Iterable[asyncpg.Record] = await connection.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
            for table in tables:
                name = str(table["table_name"])
                rows = await connection.fetchval(f"SELECT string_agg(t::text, E'\\n') FROM \"{name}\" t")  # noqa: S608 - names from the catalogue
                sinks.append(Sink("database", f"{service}.{name}", (rows or "").encode()))
        finally:
            await connection.close()
    return sinks
