# ruff: noqa: N802 - servicer methods carry the RPC names
"""The MessagingService servicer: map the request, call one use case, map the answer back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide_chassis.auth import current_principal
from confide_messaging import metrics
from confide_messaging.api import mapping
from confide_messaging.app.messaging import MessagingUseCases
from confide_messaging.app.notifications import NotificationUseCases
from confide_messaging.app.reply_times import ReplyTimeUseCases

SERVICE = pb.DESCRIPTOR.services_by_name["MessagingService"]
NOTIFICATION_SERVICE = pb.DESCRIPTOR.services_by_name["NotificationService"]
REPLY_POLICY_SERVICE = pb.DESCRIPTOR.services_by_name["ReplyPolicyService"]

Context = grpc.aio.ServicerContext[Any, Any]


class MessagingServicer(pb_grpc.MessagingServiceServicer):
    def __init__(self, messaging: MessagingUseCases) -> None:
        self._messaging = messaging

    async def CreateThread(
        self, request: pb.CreateThreadRequest, context: Context
    ) -> pb.CreateThreadResponse:
        view = await self._messaging.create_thread(current_principal(), mapping.create_thread(request))
        return pb.CreateThreadResponse(thread=mapping.thread_pb(view))

    async def GetThread(self, request: pb.GetThreadRequest, context: Context) -> pb.GetThreadResponse:
        view = await self._messaging.get_thread(current_principal(), mapping.thread_id(request))
        return pb.GetThreadResponse(thread=mapping.thread_pb(view))

    async def ListThreads(self, request: pb.ListThreadsRequest, context: Context) -> pb.ListThreadsResponse:
        views = await self._messaging.list_threads(current_principal(), mapping.list_threads_limit(request))
        return pb.ListThreadsResponse(threads=[mapping.thread_pb(v) for v in views])

    async def SendMessage(self, request: pb.SendMessageRequest, context: Context) -> pb.SendMessageResponse:
        sent = await self._messaging.send(current_principal(), mapping.send_message(request))
        response = pb.SendMessageResponse(message=mapping.message_pb(sent.message))
        if sent.crisis is not None:
            response.crisis_resources.extend(mapping.crisis_resource_pb(r) for r in sent.crisis.resources)
            response.crisis_message.CopyFrom(mapping.message_pb(sent.crisis.message))
            response.risk_flag_id = str(sent.crisis.risk_flag_id)
        return response

    async def AmendMessage(
        self, request: pb.AmendMessageRequest, context: Context
    ) -> pb.AmendMessageResponse:
        amendment = await self._messaging.amend(current_principal(), mapping.amend_message(request))
        return pb.AmendMessageResponse(amendment=mapping.message_pb(amendment))

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        thread, after, limit = mapping.list_messages(request)
        page = await self._messaging.list_messages(current_principal(), thread, after, limit)
        return pb.ListMessagesResponse(
            messages=[mapping.message_pb(m) for m in page.messages], last_sequence=page.last_sequence
        )

    async def MarkRead(self, request: pb.MarkReadRequest, context: Context) -> pb.MarkReadResponse:
        receipt, role, unread = await self._messaging.mark_read(
            current_principal(), mapping.mark_read(request)
        )
        return pb.MarkReadResponse(
            participant=mapping.participant_pb(receipt.participant_id, role, receipt), unread_count=unread
        )

    async def StreamMessages(
        self, request: pb.StreamMessagesRequest, context: Context
    ) -> AsyncIterator[pb.StreamMessagesResponse]:
        thread, after = mapping.stream_messages(request)
        metrics.live_streams.labels().inc()
        try:
            async for message in self._messaging.stream(current_principal(), thread, after):
                yield pb.StreamMessagesResponse(message=mapping.message_pb(message))
        finally:
            metrics.live_streams.labels().dec()


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, notifications: NotificationUseCases) -> None:
        self._notifications = notifications

    async def GetNotificationPreferences(
        self, request: pb.GetNotificationPreferencesRequest, context: Context
    ) -> pb.GetNotificationPreferencesResponse:
        contact = await self._notifications.get_preferences(current_principal())
        return pb.GetNotificationPreferencesResponse(preferences=mapping.preferences_pb(contact))

    async def SetNotificationPreferences(
        self, request: pb.SetNotificationPreferencesRequest, context: Context
    ) -> pb.SetNotificationPreferencesResponse:
        contact = await self._notifications.set_preferences(
            current_principal(), mapping.set_preferences(request)
        )
        return pb.SetNotificationPreferencesResponse(preferences=mapping.preferences_pb(contact))


class ReplyPolicyServicer(pb_grpc.ReplyPolicyServiceServicer):
    def __init__(self, replies: ReplyTimeUseCases) -> None:
        self._replies = replies

    async def GetReplyPolicy(
        self, request: pb.GetReplyPolicyRequest, context: Context
    ) -> pb.GetReplyPolicyResponse:
        policy = await self._replies.get_policy(current_principal())
        return pb.GetReplyPolicyResponse(policy=mapping.reply_policy_pb(policy))

    async def SetReplyPolicy(
        self, request: pb.SetReplyPolicyRequest, context: Context
    ) -> pb.SetReplyPolicyResponse:
        policy = await self._replies.set_policy(current_principal(), mapping.reply_policy(request))
        return pb.SetReplyPolicyResponse(policy=mapping.reply_policy_pb(policy))
