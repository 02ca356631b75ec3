"""Messages whose sender the platform keeps anonymous (a Telegram group's anonymous administrator).

No official can be recognised behind them, so they are neither recorded as residents' words nor acted
on as an official's. When one is meant for the bot — a command, an @-mention, a reply to a question —
the sender is told how to be recognised instead of being ignored without a word.
"""

from __future__ import annotations

from bot.work import Context

ANONYMOUS_NOTICE = (
    "您正以匿名管理员身份发言，机器人无法确认您是哪位工作人员，本条未处理。"
    "请在群设置中关闭「保持匿名」后再发，或在与机器人的私聊中操作（如「/reply Q12 1」）。"
)


def is_anonymous(ctx: Context) -> bool:
    """The platform does not say who sent this."""
    return ctx.message.sender.anonymous


async def anonymous_sender(ctx: Context) -> None:
    """Ends the event for an anonymous sender; explains why when the message was meant for the bot."""
    msg = ctx.message
    meant_for_bot = ctx.addressed or ctx.command is not None
    if not meant_for_bot and msg.reply_to_message_id:
        question = await ctx.db(
            ctx.store.question_for_message, msg.platform, msg.chat.chat_id, msg.reply_to_message_id
        )
        meant_for_bot = question is not None  # answering a resident's question on the platform
    if meant_for_bot:
        ctx.reply(ANONYMOUS_NOTICE)
