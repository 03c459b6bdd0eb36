# ruff: noqa: N802 - servicer methods carry the RPC names
"""AppointmentService: map the request, call one use case, map the record back."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.api.mapping import appointment_pb, fee_pb
from confide_scheduling.app import commands
from confide_scheduling.app.booking import AppointmentUseCases
from confide_scheduling.reference_data import SessionTypeCatalogue


class AppointmentServicer(pb_grpc.AppointmentServiceServicer):
    def __init__(self, appointments: AppointmentUseCases, catalogue: SessionTypeCatalogue) -> None:
        self._appointments = appointments
        self._catalogue = catalogue

    async def HoldSlot(self, request: pb.HoldSlotRequest, context: Context) -> pb.HoldSlotResponse:
        command = mapping.book_slot(request, self._catalogue)
        held = await self._appointments.hold(caller_of(context), command)
        return pb.HoldSlotResponse(appointment=appointment_pb(held))

    async def BookAppointment(
        self, request: pb.BookAppointmentRequest, context: Context
    ) -> pb.BookAppointmentResponse:
        command = mapping.book_slot(request, self._catalogue)
        booked = await self._appointments.book(caller_of(context), command)
        return pb.BookAppointmentResponse(appointment=appointment_pb(booked))

    async def ConfirmHold(self, request: pb.ConfirmHoldRequest, context: Context) -> pb.ConfirmHoldResponse:
        command = commands.ConfirmHold(mapping.require_id(request.appointment_id, "appointment_id"))
        confirmed = await self._appointments.confirm_hold(caller_of(context), command)
        return pb.ConfirmHoldResponse(appointment=appointment_pb(confirmed))

    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Context) -> pb.ReleaseHoldResponse:
        command = commands.ReleaseHold(mapping.require_id(request.appointment_id, "appointment_id"))
        released = await self._appointments.release_hold(caller_of(context), command)
        return pb.ReleaseHoldResponse(appointment=appointment_pb(released))

    async def RescheduleAppointment(
        self, request: pb.RescheduleAppointmentRequest, context: Context
    ) -> pb.RescheduleAppointmentResponse:
        command = mapping.reschedule_appointment(request)
        moved = await self._appointments.reschedule(caller_of(context), command)
        return pb.RescheduleAppointmentResponse(appointment=appointment_pb(moved))

    async def CancelAppointment(
        self, request: pb.CancelAppointmentRequest, context: Context
    ) -> pb.CancelAppointmentResponse:
        command = commands.CancelAppointment(mapping.require_id(request.appointment_id, "appointment_id"))
        result = await self._appointments.cancel(caller_of(context), command)
        return mapping.cancel_appointment_response(result)

    async def MarkNoShow(self, request: pb.MarkNoShowRequest, context: Context) -> pb.MarkNoShowResponse:
        command = commands.MarkNoShow(mapping.require_id(request.appointment_id, "appointment_id"))
        result = await self._appointments.mark_no_show(caller_of(context), command)
        return pb.MarkNoShowResponse(appointment=appointment_pb(result.appointment), fee=fee_pb(result.fee))

    async def RecheckAuthorization(
        self, request: pb.RecheckAuthorizationRequest, context: Context
    ) -> pb.RecheckAuthorizationResponse:
        command = commands.RecheckAuthorization(mapping.require_id(request.appointment_id, "appointment_id"))
        restored = await self._appointments.recheck_authorization(caller_of(context), command)
        return pb.RecheckAuthorizationResponse(appointment=appointment_pb(restored))

    async def GetAppointment(
        self, request: pb.GetAppointmentRequest, context: Context
    ) -> pb.GetAppointmentResponse:
        appointment_id = mapping.require_id(request.appointment_id, "appointment_id")
        found = await self._appointments.get(caller_of(context), appointment_id)
        return pb.GetAppointmentResponse(appointment=appointment_pb(found))

    async def ListAppointments(
        self, request: pb.ListAppointmentsRequest, context: Context
    ) -> pb.ListAppointmentsResponse:
        page = await self._appointments.list_appointments(
            caller_of(context), mapping.list_appointments(request)
        )
        return mapping.appointment_page_pb(page)

    async def GetCancellationPolicy(
        self, request: pb.GetCancellationPolicyRequest, context: Context
    ) -> pb.GetCancellationPolicyResponse:
        policy = await self._appointments.cancellation_policy(caller_of(context))
        return pb.GetCancellationPolicyResponse(policy=mapping.policy_pb(policy))

    async def SetCancellationPolicy(
        self, request: pb.SetCancellationPolicyRequest, context: Context
    ) -> pb.SetCancellationPolicyResponse:
        command = mapping.set_cancellation_policy(request)
        policy = await self._appointments.set_cancellation_policy(caller_of(context), command)
        return pb.SetCancellationPolicyResponse(policy=mapping.policy_pb(policy))
