"""转办 — an official hands a question to another department: ``/transfer Q12 交通运输局 备注``.

The resident is told in the group, the new assignee privately; the transfer is engagement ``transfer``.
"""

from __future__ import annotations

from bot.dispatch import Context
from handlers.assignment import choose_transfer_assignee
from handlers.common import STAFF, question_number_arg, require, tell_official, to_asker
from handlers.store_messages import explain
from storage import StoreError


class TransferHandler:
    """``transfer``."""

    async def __call__(self, ctx: Context) -> bool:
        if ctx.command is None or ctx.command.name != "transfer":
            return False
        if not await require(ctx, STAFF):
            return True
        official = ctx.official
        assert official is not None
        number = question_number_arg(ctx)
        args = ctx.command.args
        if number is None or len(args) < 2:
            await ctx.reply("格式：/transfer Q12 部门名称 [说明]")
            return True
        store = ctx.services.store
        target = await ctx.services.db(store.question, number)
        group = (
            await ctx.services.db(store.assignment_candidates, target.platform, target.chat_id)
            if target
            else []
        )
        members = await ctx.services.db(store.department_members, args[1])
        try:
            question = await ctx.services.db(
                store.transfer,
                number,
                by_official_id=official.id,
                department=args[1],
                assignee_id=choose_transfer_assignee(group, members, args[1]),
                at=ctx.now,
                note=" ".join(args[2:]),
            )
        except StoreError as exc:
            departments = await ctx.services.db(store.departments)
            await ctx.reply(f"{explain(exc)}。可选部门：{'、'.join(departments) or '（未配置）'}")
            return True
        if question.group_id is not None and question.platform in ctx.dispatcher.platforms:
            await ctx.send(
                to_asker(
                    question,
                    f"您的问题 {question.number} 已转交{question.department}办理，请耐心等待答复。",
                )
            )
        if question.assignee_id is not None:
            assignee = await ctx.services.db(store.official, question.assignee_id)
            if assignee is not None:
                await tell_official(
                    ctx,
                    assignee,
                    f"【转办 {question.number}】{official.name}转来：{question.text}\n"
                    f"请发送「/suggest {question.number}」获取推荐答复，或「/reply {question.number} 答复内容」。",
                    prefer=question.platform,
                )
        who = question.assignee_name or "（该部门暂无承办人）"
        await ctx.reply(
            f"{question.number} 已转交{question.department}，承办人：{who}。", quote=False
        )
        return True
