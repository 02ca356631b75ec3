"""The sentences people see when the store refuses a request: one per code, worded as before the
store stopped wording them."""

from __future__ import annotations

import pytest

from handlers.store_messages import MESSAGES, explain
from storage import StoreError, StoreErrorCode


def test_every_code_has_a_sentence():
    assert set(MESSAGES) == set(StoreErrorCode)


@pytest.mark.parametrize(
    ("code", "params", "sentence"),
    [
        (StoreErrorCode.UNKNOWN_OFFICIAL, {"name": "无名氏"}, "名册中没有 无名氏"),
        (StoreErrorCode.UNKNOWN_DEPARTMENT, {"department": "不存在局"}, "没有名为 不存在局 的部门"),
        (StoreErrorCode.UNKNOWN_QUESTION, {"question_id": 9}, "没有编号为 Q9 的问题"),
        (StoreErrorCode.QUESTION_CLOSED, {"question_id": 9}, "Q9 已关闭，不能再答复"),
        (StoreErrorCode.INVITE_INVALID, {}, "绑定码无效，请向管理员重新获取。"),
        (StoreErrorCode.INVITE_USED, {}, "该绑定码已经使用过，请向管理员重新获取。"),
        (StoreErrorCode.INVITE_EXPIRED, {}, "该绑定码已过期，请向管理员重新获取。"),
        (
            StoreErrorCode.UNKNOWN_ROLE,
            {"role": "king"},
            "未知角色 king（可选 official / supervisor / admin）",
        ),
        (StoreErrorCode.UNKNOWN_SCORE, {"score": "great"}, "评价只能是 满意 / 基本满意 / 不满意"),
    ],
)
def test_sentences_are_filled_in_with_the_parameters(code, params, sentence):
    assert explain(StoreError(code, **params)) == sentence


def test_a_parameter_is_text_never_a_format():
    error = StoreError(StoreErrorCode.UNKNOWN_OFFICIAL, name="{0} {name.__class__}")
    assert explain(error) == "名册中没有 {0} {name.__class__}"


def test_the_error_itself_reads_as_code_and_parameters_in_logs():
    error = StoreError(StoreErrorCode.UNKNOWN_QUESTION, question_id=9)
    assert str(error) == "unknown_question(question_id=9)"
