"""Hand-weighted cue words for the three actionable intents (question, suggestion, complaint).

Written for this project from general knowledge of how residents phrase messages to officials; nothing here
is derived from any data set. ``cue_scores`` returns one raw score per intent.
"""

from __future__ import annotations

import re

QUESTION_CUES: dict[str, float] = {
    "请问": 2.0,
    "想问": 2.0,
    "问一下": 2.0,
    "问下": 1.5,
    "咨询": 2.5,
    "请教": 2.0,
    "吗": 1.2,
    "么": 0.6,
    "?": 1.0,
    "怎么": 1.2,
    "怎样": 1.2,
    "如何": 1.2,
    "咋": 1.0,
    "什么时候": 1.5,
    "何时": 1.5,
    "啥时候": 1.5,
    "能否": 0.8,
    "是否": 1.0,
    "可否": 0.8,
    "有没有": 1.0,
    "多少": 1.0,
    "哪里": 1.0,
    "哪个": 0.8,
    "哪些": 1.0,
    "在哪": 1.0,
    "需要什么": 1.5,
    "需要哪些": 1.5,
    "办理": 1.0,
    "手续": 1.0,
    "材料": 0.8,
    "流程": 0.8,
    "条件": 0.6,
    "政策": 0.6,
    "可以吗": 1.0,
    "能不能": 0.4,
    "为什么": 0.6,
    "是不是": 0.8,
    "了解一下": 1.0,
    "进展": 0.8,
    "规划": 0.6,
}

SUGGESTION_CUES: dict[str, float] = {
    "建议": 3.0,
    "希望": 1.8,
    "呼吁": 2.5,
    "应该": 1.2,
    "应当": 1.2,
    "能不能增加": 2.0,
    "能否增加": 2.0,
    "增加": 0.8,
    "增设": 1.5,
    "增开": 1.5,
    "加装": 1.2,
    "设置": 0.6,
    "完善": 1.0,
    "改善": 0.8,
    "优化": 1.2,
    "改进": 1.0,
    "提议": 2.5,
    "倡议": 2.0,
    "恳请": 1.0,
    "考虑": 1.0,
    "尽快": 0.5,
    "出台": 1.0,
    "推广": 0.8,
    "提高": 0.6,
    "加强": 1.0,
    "规范": 0.6,
    "有关部门": 0.6,
    "合理": 0.5,
    "建设": 0.5,
    "方便": 0.6,
    "便民": 0.8,
    "意见": 0.8,
    "望": 0.5,
    "盼": 0.6,
    "是否可以": 1.0,
    "可不可以": 0.8,
    "开通": 1.0,
    "设立": 1.2,
    "建立": 1.0,
    "加大": 1.0,
    "加快": 0.8,
    "推进": 0.6,
    "改造": 0.6,
    "统筹": 1.0,
    "鼓励": 1.0,
    "引导": 0.8,
    "措施": 0.6,
    "机制": 1.0,
    "制度": 0.6,
    "力度": 0.8,
    "为了": 0.5,
    "更好": 0.8,
}

COMPLAINT_CUES: dict[str, float] = {
    "投诉": 3.0,
    "举报": 2.5,
    "反映": 1.8,
    "求助": 2.5,
    "帮帮": 2.0,
    "帮忙": 1.0,
    "救救": 2.5,
    "扰民": 2.5,
    "噪音": 2.0,
    "噪声": 2.0,
    "不作为": 3.0,
    "多次": 1.5,
    "至今": 1.5,
    "一直": 0.8,
    "拖欠": 2.5,
    "欠薪": 2.5,
    "工资": 1.0,
    "乱收费": 2.5,
    "违规": 1.5,
    "违法": 1.5,
    "违建": 2.0,
    "私搭乱建": 2.0,
    "占用": 1.0,
    "占道": 1.5,
    "污染": 1.2,
    "臭": 1.0,
    "漏水": 1.5,
    "停水": 1.0,
    "停电": 1.0,
    "无人管": 2.0,
    "没人管": 2.0,
    "不管": 1.5,
    "推诿": 2.5,
    "敷衍": 2.0,
    "态度恶劣": 2.5,
    "严重": 1.0,
    "影响": 0.8,
    "休息": 1.0,
    "困扰": 1.5,
    "无法": 0.8,
    "不能": 0.6,
    "没有": 0.4,
    "坏了": 1.5,
    "损坏": 1.2,
    "安全隐患": 1.5,
    "隐患": 1.0,
    "退款": 1.5,
    "骗": 1.5,
    "物业": 0.8,
    "开发商": 0.8,
    "维权": 2.0,
    "强烈": 1.0,
    "太差": 1.5,
    "不合理": 1.2,
    "凭什么": 1.5,
    "深夜": 1.0,
    "半夜": 1.0,
    "每天": 0.6,
    "天天": 0.8,
    "解决": 0.6,
    "处理": 0.5,
    "竟然": 1.5,
    "居然": 1.5,
    "却": 0.8,
    "怎么能": 1.2,
    "严重影响": 1.5,
    "多年": 0.8,
    "几年": 0.6,
    "迟迟": 1.5,
    "拒绝": 1.2,
    "不给": 1.2,
    "不让": 1.0,
    "被": 0.4,
    "乱": 0.8,
    "欺骗": 1.5,
    "纠纷": 1.2,
    "损失": 1.2,
    "受害": 1.5,
    "无奈": 1.2,
    "难受": 1.0,
    "恳请领导": 0.5,
    "帮助": 0.8,
    "请求": 0.5,
}

CUES: dict[str, dict[str, float]] = {
    "question": QUESTION_CUES,
    "suggestion": SUGGESTION_CUES,
    "complaint": COMPLAINT_CUES,
}

SATURATION = 0.5
"""How quickly additional cues of the same intent lose weight."""

_PATTERNS = {
    label: re.compile("|".join(re.escape(w) for w in sorted(table, key=len, reverse=True)))
    for label, table in CUES.items()
}


def cue_weights(normalised: str) -> dict[str, list[float]]:
    """The weights of the distinct cue words of each actionable intent found in already-normalised
    text, strongest first: one scan, from which ``cue_scores`` and ``strongest_cue`` are both read."""
    return {
        label: sorted(map(weight, set(pattern.findall(normalised))), reverse=True)
        for label, pattern, weight in _SCANS
    }


_SCANS = [(label, pattern, CUES[label].__getitem__) for label, pattern in _PATTERNS.items()]
"""Each intent's pattern and the look-up of its cue words' weights."""


def saturated(weights: dict[str, list[float]]) -> dict[str, float]:
    """Cue weights (``cue_weights``) summed per intent, each further cue counting less."""
    # The strongest cue counts fully, further cues less and less: long narratives collect many
    # weak complaint words, which should not outvote one clear "建议".
    return {
        label: sum(w / (1.0 + SATURATION * i) for i, w in enumerate(found))
        for label, found in weights.items()
    }


def strongest(weights: dict[str, list[float]]) -> float:
    """The strongest of ``cue_weights`` (0.0 for none)."""
    return max((found[0] for found in weights.values() if found), default=0.0)


def cue_scores(normalised: str) -> dict[str, float]:
    """Sum of cue weights per actionable intent found in already-normalised text (each cue counted once)."""
    return saturated(cue_weights(normalised))


def strongest_cue(normalised: str) -> float:
    """The weight of the strongest cue word of any intent in already-normalised text (0.0 for none).

    Words weighted 2.0 or more (请问, 咨询, 建议, 投诉, 举报, 扰民 …) are said to an official, almost
    never in small talk between neighbours.
    """
    return strongest(cue_weights(normalised))
