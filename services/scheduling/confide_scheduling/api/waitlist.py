# ruff: noqa: N802 - servicer methods carry the RPC names
"""WaitlistService: map the request, call one use case, map the records back."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.api.mapping import appointment_pb, entry_pb, offer_pb
from confide_scheduling.app import commands
from confide_scheduling.app.waitlist import WaitlistUseCases


class WaitlistServicer(pb_grpc.WaitlistServiceServicer):
    def __init__(self, waitlist: WaitlistUseCases) -> None:
        self._waitlist = waitlist

    async def JoinWaitlist(
        self, request: pb.JoinWaitlistRequest, context: Context
    ) -> pb.JoinWaitlistResponse:
        entry = await self._waitlist.join(caller_of(context), mapping.join_waitlist(request))
        return pb.JoinWaitlistResponse(entry=entry_pb(entry))

    async def LeaveWaitlist(
        self, request: pb.LeaveWaitlistRequest, context: Context
    ) -> pb.LeaveWaitlistResponse:
        command = commands.LeaveWaitlist(mapping.require_id(request.entry_id, "entry_id"))
        entry = await self._waitlist.leave(caller_of(context), command)
        return pb.LeaveWaitlistResponse(entry=entry_pb(entry))

    async def ListWaitlist(
        self, request: pb.ListWaitlistRequest, context: Context
    ) -> pb.ListWaitlistResponse:
        client_id = mapping.require_id(request.client_id, "client_id")
        entries, offers = await self._waitlist.list_for_client(caller_of(context), client_id)
        return pb.ListWaitlistResponse(
            entries=[entry_pb(e) for e in entries], offers=[offer_pb(o) for o in offers]
        )

    async def AcceptWaitlistOffer(
        self, request: pb.AcceptWaitlistOfferRequest, context: Context
    ) -> pb.AcceptWaitlistOfferResponse:
        command = mapping.accept_waitlist_offer(request)
        appointment, offer = await self._waitlist.accept_offer(caller_of(context), command)
        return pb.AcceptWaitlistOfferResponse(appointment=appointment_pb(appointment), offer=offer_pb(offer))

    async def DeclineWaitlistOffer(
        self, request: pb.DeclineWaitlistOfferRequest, context: Context
    ) -> pb.DeclineWaitlistOfferResponse:
        command = commands.DeclineWaitlistOffer(mapping.require_id(request.offer_id, "offer_id"))
        offer = await self._waitlist.decline_offer(caller_of(context), command)
        return pb.DeclineWaitlistOfferResponse(offer=offer_pb(offer))
