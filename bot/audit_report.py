"""``minyi audit``'s output: the audit log as an aligned table or as JSON, times in the configured zone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from storage import AuditRecord

OUTCOME_LABELS = {"done": "完成", "refused": "拒绝", "failed": "失败", "unmasked": "查看原文"}
HEADER = ("时间", "人员", "角色", "聊天", "操作", "问题", "结果", "原因", "内容")


def _who(entry: AuditRecord) -> str:
    return f"{entry.actor_name}({entry.actor})" if entry.actor_name else entry.actor


def _row(entry: AuditRecord, zone: ZoneInfo) -> tuple[str, ...]:
    where = ("群 " if entry.in_group else "私聊 ") + entry.chat
    return (
        f"{entry.at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
        _who(entry),
        entry.role,
        where,
        entry.action,
        entry.subject or "-",
        OUTCOME_LABELS.get(entry.outcome, entry.outcome),
        entry.reason or "-",
        # One line per entry whatever was typed: newlines and tabs become spaces.
        " ".join(entry.detail.split()) or "-",
    )


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def format_audit(entries: Sequence[AuditRecord], fmt: str, zone: ZoneInfo) -> str:
    """``table`` (aligned columns, one line per entry) or ``json`` (an array of objects)."""
    if fmt == "json":
        return (
            json.dumps(
                [
                    {
                        "at": e.at.astimezone(zone).isoformat(),
                        "actor": e.actor,
                        "actor_name": e.actor_name,
                        "role": e.role,
                        "chat": e.chat,
                        "in_group": e.in_group,
                        "action": e.action,
                        "subject": e.subject,
                        "outcome": e.outcome,
                        "reason": e.reason,
                        "detail": e.detail,
                    }
                    for e in entries
                ],
                ensure_ascii=False,
                indent=1,
            )
            + "\n"
        )
    rows = [HEADER, *(_row(e, zone) for e in entries)]
    widths = [max(_width(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]
    if not entries:
        lines.append("（该时间段内没有审计记录）")
    return "\n".join(lines) + "\n"
