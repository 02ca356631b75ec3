"""转办 — an official hands a question to another department: ``/transfer Q12 交通运输局 备注``.

A resolved or closed ticket, or a department with nobody to handle it, is refused with the reason
(a transfer never leaves a ticket with nobody). The resident is told in the group, the new assignee privately (the question's personal data masked:
``/suggest`` shows it as written once they take it on); the transfer is engagement ``transfer``.
"""

from __future__ import annotations

from bot.text.privacy import mask
from bot.work import StaffContext
from handlers import scope
from handlers.assignment import choose_transfer_assignee
from handlers.common import question_number_arg, tell_official, to_asker
from handlers.store_messages import explain
from storage import QuestionState, StoreError

FINISHED = {QuestionState.RESOLVED: "已办结", QuestionState.CLOSED: "已关闭"}
"""States a ticket cannot be transferred from, and how to say so."""


async def transfer(ctx: StaffContext) -> None:
    """``transfer``."""
    assert ctx.command is not None
    official = ctx.official
    number = question_number_arg(ctx)
    args = ctx.command.args
    if number is None or len(args) < 2:
        ctx.reply("格式：/transfer Q12 部门名称 [说明]")
        return
    store = ctx.store
    target = await ctx.db(store.question, number)
    if target is not None and not await scope.check(ctx, target, target.number):
        return
    if target is not None and target.state in FINISHED:
        ctx.reply(
            f"{target.number} {FINISHED[target.state]}，不能转办"
            "（居民评价不满意后问题会重新打开，届时可以转办）。"
        )
        return
    group = (
        await ctx.db(store.assignment_candidates, target.platform, target.chat_id) if target else []
    )
    members = await ctx.db(store.department_members, args[1])
    assignee_id = choose_transfer_assignee(group, members, args[1])
    departments = await ctx.db(store.departments)
    if target is not None and args[1] in departments and assignee_id is None:
        ctx.reply(
            f"{args[1]} 暂无承办人（名册中没有该部门的工作人员），不能转办，"
            "否则问题将无人办理。请转给其他部门，或请管理员在名册中添加该部门人员。"
        )
        return
    try:
        question = await ctx.db(
            store.transfer,
            number,
            by_official_id=official.id,
            department=args[1],
            assignee_id=assignee_id,
            at=ctx.now,
            note=" ".join(args[1:]),  # the department and why (the ticket's history)
        )
    except StoreError as exc:
        ctx.reply(f"{explain(exc)}。可选部门：{'、'.join(departments) or '（未配置）'}")
        return
    if question.group_id is not None and question.platform in ctx.work.platforms:
        ctx.send(
            to_asker(
                question,
                f"您的问题 {question.number} 已转交{question.department}办理，请耐心等待答复。",
            ),
            what=f"the transfer notice of {question.number}",
        )
    if question.assignee_id is not None:
        assignee = await ctx.db(store.official, question.assignee_id)
        if assignee is not None:
            tell_official(
                ctx,
                assignee,
                f"【转办 {question.number}】{official.name}转来：{mask(question.text)}\n"
                f"请发送「/suggest {question.number}」获取推荐答复，或「/reply {question.number} 答复内容」。",
                prefer=question.platform,
            )
    who = question.assignee_name or "（该部门暂无承办人）"
    ctx.reply(f"{question.number} 已转交{question.department}，承办人：{who}。", quote=False)
