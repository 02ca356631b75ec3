"""潜水 — an official reads a digest of their groups since the last one: new and waiting questions,
suggestions and complaints flagged, and the most frequent topic words. Each digest is engagement ``lurk``.
"""

from __future__ import annotations

from bot.commands import strip_mention
from bot.text.privacy import mask
from bot.work import Context, StaffContext, Work
from handlers.common import clip, local_time
from handlers.unaddressed import flush_groups
from storage import Digest, EngagementKind

INTENT_LABELS = {"suggestion": "建议", "complaint": "投诉", "question": "咨询", "chatter": "闲聊"}
MAX_ITEMS = 8


def digest_text(ctx: Context | Work, digest: Digest) -> str:
    """The digest as a chat message, residents' personal data masked (for ``/digest``, or for the
    daily digest the scheduler sends, which has no event)."""
    return mask(_digest_text(ctx, digest))


def _digest_text(ctx: Context | Work, digest: Digest) -> str:
    since = f"自 {local_time(ctx, digest.since)} 以来" if digest.since else "目前为止"
    lines = [f"【潜水摘要】{since}，您负责的群共 {digest.message_count} 条居民消息。"]
    lines.append(f"新问题 {len(digest.new_questions)} 个。")
    for q in digest.new_questions[:MAX_ITEMS]:
        lines.append(f"· {q.number}［{q.group_title}］{q.asker_name}：{clip(mask(q.text))}")
    overdue = [q for q in digest.waiting_questions if q.is_overdue(ctx.now)]
    lines.append(f"待答复 {len(digest.waiting_questions)} 个（其中超时 {len(overdue)} 个）。")
    for q in digest.waiting_questions[:MAX_ITEMS]:
        flag = "（超时）" if q in overdue else ""
        joined = digest.linked.get(q.id, [])
        # 同问: one ticket, however many asked; the linked questions are listed under it.
        askers = f"（同问 {1 + len(joined)} 人）" if joined else ""
        lines.append(
            f"· {q.number}{flag}{askers}［{q.group_title}］截止 {local_time(ctx, q.due_at)}："
            f"{clip(mask(q.text))}"
        )
        for j in joined[:MAX_ITEMS]:
            lines.append(
                f"  └ 同问 {j.number}［{j.group_title}］{j.asker_name}：{clip(mask(j.text))}"
            )
    if digest.flagged:
        lines.append(f"建议与投诉 {len(digest.flagged)} 条：")
        for title, name, intent, text, confident in digest.flagged[:MAX_ITEMS]:
            label = INTENT_LABELS.get(intent, intent)
            # An unsure label is shown as a guess for the official to judge, not as a finding.
            kind = label if confident else f"疑似{label}"
            lines.append(f"· ［{title}］{name}（{kind}）：{clip(mask(text))}")
    # Residents' messages keep their @政务助手; the bot's own names are not a topic.
    names = [*ctx.services.settings.bot.aliases, *ctx.services.bot_usernames.values()]
    # Masked first: a clipped preview must not cut a number in half (which ``mask`` would no longer
    # recognise), and an e-mail address must not lend its name to the topic words.
    texts = [mask(strip_mention(text, names)[0]) for text in digest.texts]
    words = ctx.services.text.topic_words(texts, k=5)
    if words:
        lines.append("热词：" + "、".join(f"{w}({n})" for w, n in words))
    return "\n".join(lines)


async def digest(ctx: StaffContext) -> None:
    """``digest`` (潜水 / 摘要): what happened in the official's groups since their last digest."""
    official = ctx.official
    since = await ctx.db(ctx.store.last_engagement_at, official.id, EngagementKind.LURK)
    now = ctx.now
    found = await ctx.db(ctx.store.digest, official.id, since, now)
    # Complaints nobody @-mentioned that still wait for their batch go out to the officials now.
    await flush_groups(ctx, await ctx.db(ctx.store.groups_of, official.id))
    ctx.reply(digest_text(ctx, found), quote=False)
    await ctx.db(
        ctx.store.record_engagement, official.id, EngagementKind.LURK, now, detail="digest"
    )
