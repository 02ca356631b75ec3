"""What people are told when the store refuses a request: one Simplified Chinese sentence for each
``StoreErrorCode``, filled in with the error's parameters. The store itself words nothing."""

from __future__ import annotations

from storage import StoreError, StoreErrorCode

MESSAGES: dict[StoreErrorCode, str] = {
    StoreErrorCode.UNKNOWN_ROLE: "未知角色 {role}（可选 official / supervisor / admin）",
    StoreErrorCode.UNKNOWN_OFFICIAL: "名册中没有 {name}",
    StoreErrorCode.UNKNOWN_DEPARTMENT: "没有名为 {department} 的部门",
    StoreErrorCode.INVITE_INVALID: "绑定码无效，请向管理员重新获取。",
    StoreErrorCode.INVITE_USED: "该绑定码已经使用过，请向管理员重新获取。",
    StoreErrorCode.INVITE_EXPIRED: "该绑定码已过期，请向管理员重新获取。",
    StoreErrorCode.INVITE_REVOKED: "该绑定码曾在群里公开，已作废，请向管理员重新获取。",
    StoreErrorCode.UNKNOWN_QUESTION: "没有编号为 Q{question_id} 的问题",
    StoreErrorCode.QUESTION_CLOSED: "Q{question_id} 已关闭，不能再答复",
    StoreErrorCode.UNKNOWN_SCORE: "评价只能是 满意 / 基本满意 / 不满意",
    StoreErrorCode.UNKNOWN_STATE: "未知的问题状态 {state}",
    StoreErrorCode.UNKNOWN_ENGAGEMENT_KIND: "未知的工作记录类型 {kind}",
}
"""The sentence for each code; ``{name}`` fields are the error's parameters."""


def explain(error: StoreError) -> str:
    """The sentence to show people for ``error``."""
    # str.format substitutes the parameters as plain text: a name typed by a person is never a format.
    return MESSAGES[error.code].format(**error.params)
