"""scheduling's SearchSlots over gRPC, as the `AvailabilityPort`: the next slot of the clinicians of the
page being returned (one call per search page, bounded by the page size).

Availability is a display aid, not a safety rule: when scheduling does not answer, the port returns
None and the results are shown without next slots (`availability_known = false`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import grpc

from confide.common.v1 import time_pb2
from confide.scheduling.v1 import scheduling_pb2, scheduling_pb2_grpc
from confide_chassis.logging import get_logger
from confide_chassis.wire import datetime_of, jurisdiction_value, timestamp
from confide_directory.app.ports import NextSlot
from confide_directory.domain.profiles import Modality

log = get_logger(__name__)

_MODALITY: dict[Modality, scheduling_pb2.Modality.ValueType] = {
    Modality.VIDEO: scheduling_pb2.MODALITY_VIDEO,
    Modality.AUDIO: scheduling_pb2.MODALITY_AUDIO_ONLY,
    Modality.LIVE_CHAT: scheduling_pb2.MODALITY_LIVE_CHAT,
}


class GrpcSchedulingClient:
    def __init__(self, target: str | None, *, session_type_code: str, deadline_seconds: float = 2.0) -> None:
        self._target = target
        self._session_type = session_type_code
        self._deadline = deadline_seconds
        self._channel: grpc.aio.Channel | None = None
        self._stub: scheduling_pb2_grpc.AvailabilityServiceStub | None = None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None

    async def next_slots(
        self,
        *,
        client_id: str,
        client_state: str,
        modality: Modality,
        clinician_ids: Sequence[str],
        window_start: datetime,
        window_end: datetime,
        bearer_token: str,
    ) -> dict[str, NextSlot] | None:
        if not self._target:
            return None
        if modality not in _MODALITY:  # messaging has no slots; in-person is not scheduled here
            return {}
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self._target)
            self._stub = scheduling_pb2_grpc.AvailabilityServiceStub(self._channel)
        request = scheduling_pb2.SearchSlotsRequest(
            client_id=client_id,
            session_type_code=self._session_type,
            modality=_MODALITY[modality],
            window=time_pb2.TimeRange(start=timestamp(window_start), end=timestamp(window_end)),
            client_state=jurisdiction_value(client_state),
            clinician_ids=list(clinician_ids),
            max_results=1000,
        )
        try:
            reply: scheduling_pb2.SearchSlotsResponse = await self._stub.SearchSlots(  # type: ignore[misc]
                request, timeout=self._deadline, metadata=(("authorization", f"Bearer {bearer_token}"),)
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            log.warning("scheduling call failed", method="SearchSlots", code=code.name if code else "UNKNOWN")
            return None
        found: dict[str, NextSlot] = {}
        for slot in reply.slots:  # earliest first: keep each clinician's first
            if slot.clinician_id not in found:
                found[slot.clinician_id] = NextSlot(datetime_of(slot.time.start), slot.client_local_start)
        return found
