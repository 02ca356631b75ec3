"""A fake wechaty puppet service: a grpclib ``Server`` on 127.0.0.1 speaking ``wechaty.Puppet``.

python-wechaty's ``PuppetService`` connects to it exactly as to a real puppet service (Stop, Start, the
Event stream, then payload and send RPCs), so tests and benchmarks run the real SDK offline.

Tests inject room or private messages (``inject_room_message`` / ``inject_private_message``), read what
the bot posted (``sent``, ``wait_for_sent``) and can stop and restart the service on the same port
(``restart``) to simulate a puppet service restart.

Delivery model: a message event counts as delivered once the client has fetched its ``MessagePayload``.
Every new Event stream (a reconnect) first re-sends the message events not delivered yet; with
``replay_on_restart`` a restart marks everything injected as undelivered again, as a service replaying
its recent history would, so that tests can check that nothing is handled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpclib.const
from grpclib import GRPCError, Status
from grpclib.server import Server, Stream
from wechaty_grpc.wechaty import puppet as pb

TEXT = 7
"""The TypeScript wechaty-puppet ``MessageType.Text`` — what puppet services put on the wire."""

SERVICE = "/wechaty.Puppet/"


@dataclass(frozen=True)
class SentText:
    """One MessageSendText the bot made."""

    conversation_id: str
    text: str
    mention_ids: tuple[str, ...]
    message_id: str
    at: float
    """``time.perf_counter()`` when the request arrived."""


class FakePuppetService:
    """An in-process puppet service with one logged-in bot account."""

    def __init__(
        self,
        *,
        self_id: str = "wxid_minyi_bot",
        self_name: str = "政务助手",
        host: str = "127.0.0.1",
        port: int = 0,
        echo_sent: bool = True,
        replay_on_restart: bool = False,
        room_aliases: bool = True,
    ) -> None:
        self.self_id = self_id
        self.self_name = self_name
        self.host = host
        self.port = port
        self.echo_sent = echo_sent
        """Also emit a message event for what the bot sent (real services do; the bot must ignore it)."""
        self.replay_on_restart = replay_on_restart
        self.room_aliases = room_aliases
        """Answer RoomMemberPayload; when False it fails as in puppets without the API."""
        self.contacts: dict[str, pb.ContactPayloadResponse] = {}
        self.rooms: dict[str, pb.RoomPayloadResponse] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.messages: dict[str, pb.MessagePayloadResponse] = {}
        self.inbound: list[str] = []
        """Ids of injected (not bot-sent) messages, in order."""
        self.injected_at: dict[str, float] = {}
        self.sent: list[SentText] = []
        self.calls: list[str] = []
        """RPC method names in the order they arrived."""
        self.fetch_count: dict[str, int] = {}
        self.streams_opened = 0
        self.events_sent: list[str] = []
        """Message ids of the message events written to Event streams, in order (with repeats)."""
        self._undelivered: dict[str, None] = {}
        self._streams: set[asyncio.Queue[pb.EventResponse]] = set()
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._protocols: list[Any] = []
        self._sent_changed = asyncio.Event()
        self._crash_on_fetch: set[str] = set()
        self.stalled = False
        """While True the service hangs: RPCs never answer and streams send nothing (a half-open
        connection or a hung service, as the client sees it)."""
        self._unstalled = asyncio.Event()
        self.unanswered_sends = 0
        """The next this many MessageSendText calls post their message but never answer (the
        answer is lost on the way, as the client sees it)."""
        self.add_contact(self_id, self_name)

    # ---- directory -----------------------------------------------------------------------------

    def add_contact(self, contact_id: str, name: str, *, alias: str = "") -> None:
        """Register a contact (a resident, an official, the bot itself)."""
        self.contacts[contact_id] = pb.ContactPayloadResponse(
            id=contact_id, name=name, alias=alias, friend=True, type=1
        )

    def add_room(
        self,
        room_id: str,
        topic: str,
        members: Iterable[str],
        *,
        aliases: dict[str, str] | None = None,
    ) -> None:
        """Register a room (the bot is always a member) and members' room nicknames."""
        member_ids = list(dict.fromkeys([self.self_id, *members]))
        self.rooms[room_id] = pb.RoomPayloadResponse(
            id=room_id, topic=topic, owner_id=member_ids[0], member_ids=member_ids
        )
        for member, alias in (aliases or {}).items():
            self.aliases[(room_id, member)] = alias

    # ---- injecting events ----------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def inject_room_message(
        self,
        room_id: str,
        talker_id: str,
        text: str,
        *,
        mention_ids: Iterable[str] = (),
        message_id: str | None = None,
        timestamp: int | None = None,
        message_type: int = TEXT,
    ) -> str:
        """A room member posts ``text`` (``mention_ids`` as the puppet would list @-mentions)."""
        if room_id not in self.rooms:
            raise KeyError(f"unknown room {room_id}")
        mid = message_id or self._new_id("msg-")
        self.messages[mid] = pb.MessagePayloadResponse(
            id=mid,
            text=text,
            timestamp=timestamp if timestamp is not None else int(time.time() * 1000),
            type=message_type,
            from_id=talker_id,
            room_id=room_id,
            mention_ids=list(mention_ids),
        )
        self._deliver(mid, inbound=True)
        return mid

    def inject_private_message(
        self,
        talker_id: str,
        text: str,
        *,
        message_id: str | None = None,
        timestamp: int | None = None,
        message_type: int = TEXT,
    ) -> str:
        """A contact writes to the bot in a one-to-one chat."""
        mid = message_id or self._new_id("msg-")
        self.messages[mid] = pb.MessagePayloadResponse(
            id=mid,
            text=text,
            timestamp=timestamp if timestamp is not None else int(time.time() * 1000),
            type=message_type,
            from_id=talker_id,
            to_id=self.self_id,
        )
        self._deliver(mid, inbound=True)
        return mid

    def inject_room_join(self, room_id: str, invitee_ids: Iterable[str], inviter_id: str) -> None:
        """Contacts join a room (invited by ``inviter_id``). Only live streams get such events."""
        room = self.rooms[room_id]
        invitees = list(invitee_ids)
        room.member_ids = list(dict.fromkeys([*room.member_ids, *invitees]))
        self._push_event(
            pb.EventType.EVENT_TYPE_ROOM_JOIN,
            {
                "roomId": room_id,
                "inviteeIdList": invitees,
                "inviterId": inviter_id,
                "timestamp": int(time.time()),
            },
        )

    def inject_room_leave(self, room_id: str, removed_ids: Iterable[str], remover_id: str) -> None:
        """Contacts leave (or are removed from) a room. Only live streams get such events."""
        room = self.rooms[room_id]
        removed = list(removed_ids)
        room.member_ids = [m for m in room.member_ids if m not in removed]
        self._push_event(
            pb.EventType.EVENT_TYPE_ROOM_LEAVE,
            {
                "roomId": room_id,
                "removeeIdList": removed,
                "removerId": remover_id,
                "timestamp": int(time.time()),
            },
        )

    def _push_event(self, event_type: pb.EventType, payload: dict[str, Any]) -> None:
        event = pb.EventResponse(type=event_type, payload=json.dumps(payload))
        for queue in self._streams:
            queue.put_nowait(event)

    def crash_on_fetch(self, message_id: str) -> None:
        """Simulate a crash: when the client asks for this message's payload, drop all connections."""
        self._crash_on_fetch.add(message_id)

    def _deliver(self, mid: str, *, inbound: bool) -> None:
        if inbound:
            self.inbound.append(mid)
            self.injected_at[mid] = time.perf_counter()
        self._undelivered[mid] = None
        event = self._message_event(mid)
        for queue in self._streams:
            queue.put_nowait(event)

    @staticmethod
    def _message_event(mid: str) -> pb.EventResponse:
        return pb.EventResponse(
            type=pb.EventType.EVENT_TYPE_MESSAGE, payload=json.dumps({"messageId": mid})
        )

    @property
    def undelivered(self) -> list[str]:
        """Message ids whose payload the client has not fetched yet."""
        return list(self._undelivered)

    # ---- observing -----------------------------------------------------------------------------

    async def wait_for_sent(
        self,
        predicate: Callable[[SentText], bool] = lambda s: True,
        *,
        after: int = 0,
        timeout: float = 10.0,
    ) -> SentText:
        """The first ``sent[after:]`` entry matching ``predicate``; ``TimeoutError`` otherwise."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for entry in self.sent[after:]:
                if predicate(entry):
                    return entry
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = "\n".join(f"  {s.conversation_id}: {s.text!r}" for s in self.sent[after:])
                raise TimeoutError(f"no matching MessageSendText; sent so far:\n{seen}")
            self._sent_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent_changed.wait(), remaining)

    def sent_to(self, conversation_id: str) -> list[SentText]:
        """Everything the bot sent to one room or contact."""
        return [s for s in self.sent if s.conversation_id == conversation_id]

    # ---- server lifecycle ----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``WECHATY_PUPPET_SERVICE_ENDPOINT``."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server accepts connections."""
        return self._server is not None

    async def start(self) -> None:
        """Listen on ``host:port`` (a random free port the first time when ``port`` is 0)."""
        if self._server is not None:
            return
        server = Server([self])
        factory = server._protocol_factory  # keep the connections to be able to drop them

        def tracking_factory() -> Any:
            protocol = factory()
            self._protocols.append(protocol)
            return protocol

        server._protocol_factory = tracking_factory  # type: ignore[method-assign]
        await server.start(self.host, self.port, reuse_address=True)
        sockets = server._server.sockets if server._server is not None else []
        self.port = sockets[0].getsockname()[1]
        self._server = server

    async def stop(self) -> None:
        """Go away abruptly, as a crashing service does: close the listener and every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for protocol in self._protocols:
            connection = getattr(protocol, "connection", None)
            transport = getattr(connection, "_transport", None)
            if transport is not None:
                transport.abort()
        self._protocols.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
        self._streams.clear()

    async def restart(self, downtime: float = 0.0) -> None:
        """Stop, stay down ``downtime`` seconds, start again on the same port."""
        await self.stop()
        if downtime:
            await asyncio.sleep(downtime)
        if self.replay_on_restart:
            for mid in self.inbound:
                self._undelivered[mid] = None
        await self.start()

    async def __aenter__(self) -> FakePuppetService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- gRPC --------------------------------------------------------------------------------

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        """The routes grpclib serves: the RPCs python-wechaty calls."""
        unary = grpclib.const.Cardinality.UNARY_UNARY
        routes: dict[str, tuple[Callable[[Stream[Any, Any]], Any], Any, Any, Any]] = {
            "Start": (self._start, unary, pb.StartRequest, pb.StartResponse),
            "Stop": (self._stop, unary, pb.StopRequest, pb.StopResponse),
            "Logout": (self._logout, unary, pb.LogoutRequest, pb.LogoutResponse),
            "Ding": (self._ding, unary, pb.DingRequest, pb.DingResponse),
            "Version": (self._version, unary, pb.VersionRequest, pb.VersionResponse),
            "Event": (
                self._event,
                grpclib.const.Cardinality.UNARY_STREAM,
                pb.EventRequest,
                pb.EventResponse,
            ),
            "ContactPayload": (
                self._contact_payload,
                unary,
                pb.ContactPayloadRequest,
                pb.ContactPayloadResponse,
            ),
            "RoomPayload": (
                self._room_payload,
                unary,
                pb.RoomPayloadRequest,
                pb.RoomPayloadResponse,
            ),
            "RoomMemberPayload": (
                self._room_member_payload,
                unary,
                pb.RoomMemberPayloadRequest,
                pb.RoomMemberPayloadResponse,
            ),
            "RoomMemberList": (
                self._room_member_list,
                unary,
                pb.RoomMemberListRequest,
                pb.RoomMemberListResponse,
            ),
            "MessagePayload": (
                self._message_payload,
                unary,
                pb.MessagePayloadRequest,
                pb.MessagePayloadResponse,
            ),
            "MessageSendText": (
                self._message_send_text,
                unary,
                pb.MessageSendTextRequest,
                pb.MessageSendTextResponse,
            ),
        }
        return {
            SERVICE + name: grpclib.const.Handler(func, cardinality, request, reply)
            for name, (func, cardinality, request, reply) in routes.items()
        }

    def stall(self, stalled: bool = True) -> None:
        """Hang (``True``) or recover (``False``); see ``stalled``."""
        self.stalled = stalled
        if stalled:
            self._unstalled.clear()
        else:
            self._unstalled.set()

    async def _unary(self, stream: Stream[Any, Any], name: str) -> Any:
        self.calls.append(name)
        request = await stream.recv_message()
        while self.stalled:
            await self._unstalled.wait()
        return request

    async def _start(self, stream: Stream[Any, Any]) -> None:
        await self._unary(stream, "Start")
        await stream.send_message(pb.StartResponse())

    async def _stop(self, stream: Stream[Any, Any]) -> None:
        await self._unary(stream, "Stop")
        await stream.send_message(pb.StopResponse())

    async def _logout(self, stream: Stream[Any, Any]) -> None:
        await self._unary(stream, "Logout")
        await stream.send_message(pb.LogoutResponse())

    async def _ding(self, stream: Stream[Any, Any]) -> None:
        request = await self._unary(stream, "Ding")
        await stream.send_message(pb.DingResponse())
        event = pb.EventResponse(
            type=pb.EventType.EVENT_TYPE_DONG, payload=json.dumps({"data": request.data})
        )
        for queue in self._streams:
            queue.put_nowait(event)

    async def _version(self, stream: Stream[Any, Any]) -> None:
        await self._unary(stream, "Version")
        await stream.send_message(pb.VersionResponse(version="fake-0.1"))

    async def _event(self, stream: Stream[Any, Any]) -> None:
        await self._unary(stream, "Event")
        self.streams_opened += 1
        queue: asyncio.Queue[pb.EventResponse] = asyncio.Queue()
        login = {"contactId": self.self_id, "data": self.self_name}
        queue.put_nowait(
            pb.EventResponse(type=pb.EventType.EVENT_TYPE_LOGIN, payload=json.dumps(login))
        )
        for mid in self._undelivered:  # a reconnect: re-send what the client has not fetched
            queue.put_nowait(self._message_event(mid))
        self._streams.add(queue)
        try:
            while True:
                event = await queue.get()
                while self.stalled:
                    await self._unstalled.wait()
                await stream.send_message(event)
                if event.type == pb.EventType.EVENT_TYPE_MESSAGE:
                    self.events_sent.append(json.loads(event.payload)["messageId"])
        finally:
            self._streams.discard(queue)

    async def _contact_payload(self, stream: Stream[Any, Any]) -> None:
        await self._payload_by_id(stream, "ContactPayload", self.contacts, "contact")

    async def _room_payload(self, stream: Stream[Any, Any]) -> None:
        await self._payload_by_id(stream, "RoomPayload", self.rooms, "room")

    async def _payload_by_id(
        self, stream: Stream[Any, Any], rpc: str, table: dict[str, Any], what: str
    ) -> None:
        """Answer a payload look-up by id from ``table``, NOT_FOUND as a real puppet does."""
        request = await self._unary(stream, rpc)
        payload = table.get(request.id)
        if payload is None:
            raise GRPCError(Status.NOT_FOUND, f"no {what} {request.id}")
        await stream.send_message(payload)

    async def _room_member_payload(self, stream: Stream[Any, Any]) -> None:
        request = await self._unary(stream, "RoomMemberPayload")
        if not self.room_aliases:
            raise GRPCError(Status.UNIMPLEMENTED, "RoomMemberPayload unsupported")
        contact = self.contacts.get(request.member_id)
        if request.id not in self.rooms or contact is None:
            raise GRPCError(Status.NOT_FOUND, f"no member {request.member_id} in {request.id}")
        await stream.send_message(
            pb.RoomMemberPayloadResponse(
                id=contact.id,
                name=contact.name,
                room_alias=self.aliases.get((request.id, request.member_id), ""),
            )
        )

    async def _room_member_list(self, stream: Stream[Any, Any]) -> None:
        request = await self._unary(stream, "RoomMemberList")
        room = self.rooms.get(request.id)
        if room is None:
            raise GRPCError(Status.NOT_FOUND, f"no room {request.id}")
        await stream.send_message(pb.RoomMemberListResponse(member_ids=list(room.member_ids)))

    async def _message_payload(self, stream: Stream[Any, Any]) -> None:
        request = await self._unary(stream, "MessagePayload")
        if request.id in self._crash_on_fetch:
            self._crash_on_fetch.discard(request.id)
            asyncio.get_running_loop().create_task(self.restart(downtime=0.3))
            await asyncio.sleep(10)  # never answers: the connection dies first
        message = self.messages.get(request.id)
        if message is None:
            raise GRPCError(Status.NOT_FOUND, f"no message {request.id}")
        self._undelivered.pop(request.id, None)
        self.fetch_count[request.id] = self.fetch_count.get(request.id, 0) + 1
        await stream.send_message(message)

    async def _message_send_text(self, stream: Stream[Any, Any]) -> None:
        request = await self._unary(stream, "MessageSendText")
        at = time.perf_counter()
        if (
            request.conversation_id not in self.rooms
            and request.conversation_id not in self.contacts
        ):
            raise GRPCError(Status.NOT_FOUND, f"no conversation {request.conversation_id}")
        mid = self._new_id("sent-")
        conversation = request.conversation_id
        is_room = conversation in self.rooms
        self.messages[mid] = pb.MessagePayloadResponse(
            id=mid,
            text=request.text,
            timestamp=int(time.time() * 1000),
            type=TEXT,
            from_id=self.self_id,
            room_id=conversation if is_room else "",
            to_id="" if is_room else conversation,
            mention_ids=list(request.mentonal_ids),
        )
        self.sent.append(SentText(conversation, request.text, tuple(request.mentonal_ids), mid, at))
        self._sent_changed.set()
        if self.unanswered_sends > 0:
            self.unanswered_sends -= 1
            await asyncio.Event().wait()  # until the client gives up and the stream is reset
        await stream.send_message(pb.MessageSendTextResponse(id=mid))
        if self.echo_sent:
            self._deliver(mid, inbound=False)
