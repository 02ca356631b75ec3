"""Handlers: one capability each, run in order by the dispatcher (see ``default_handlers``).

Handlers import the neutral events, the dispatcher's Context, text services, templating and the store —
never a platform SDK or an adapter.
"""

from __future__ import annotations

from bot.dispatch import Handler
from handlers.anonymous import AnonymousSenderHandler
from handlers.answer import PickButtonHandler, PlatformReplyHandler, ReplyHandler
from handlers.ask import AskHandler, TicketHandler
from handlers.bind import BindHandler
from handlers.help import HelpHandler, PrivateFallbackHandler
from handlers.lurk import DigestHandler
from handlers.rate import RateButtonHandler, RateTextHandler
from handlers.record import EditHandler, MembershipHandler, OfficialChatHandler, RecordHandler
from handlers.speak import SpeakHandler
from handlers.status import StatusHandler
from handlers.suggest import SuggestHandler
from handlers.summary import SummaryHandler
from handlers.transfer import TransferHandler


def default_handlers() -> list[Handler]:
    """The handler chain, in the order that matters: record first, fallbacks last."""
    return [
        AnonymousSenderHandler(),
        MembershipHandler(),
        EditHandler(),
        RecordHandler(),
        PickButtonHandler(),
        RateButtonHandler(),
        BindHandler(),
        HelpHandler(),
        StatusHandler(),
        RateTextHandler(),
        SuggestHandler(),
        ReplyHandler(),
        PlatformReplyHandler(),
        TicketHandler(),
        TransferHandler(),
        SpeakHandler(),
        DigestHandler(),
        SummaryHandler(),
        AskHandler(),
        OfficialChatHandler(),
        PrivateFallbackHandler(),
    ]
