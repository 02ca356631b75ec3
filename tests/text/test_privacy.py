"""The masker: personal data in many written forms is masked; ticket numbers, dates and sums are not."""

from __future__ import annotations

import pytest

from bot.text.privacy import mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812341111", "电话138****1111"),
        ("请联系 138 1234 1111 谢谢", "请联系 138****1111 谢谢"),
        ("手机：138-1234-1111。", "手机：138****1111。"),
        ("+8613812341111", "+86138****1111"),
        ("+86 138 1234 1111", "+86 138****1111"),
        ("0086-13812341111", "0086-138****1111"),
        ("聯繫電話15900001234，謝謝", "聯繫電話159****1234，謝謝"),
        ("身份证110101199003071234", "身份证110101********1234"),
        ("身份證號11010119900307123X。", "身份證號110101********123X。"),
        ("卡号6222020200112233445", "卡号***************3445"),
        ("卡号 6222 0202 0011 2233", "卡号 ************2233"),
        ("邮箱zhang.san@example.com谢谢", "邮箱z***@example.com谢谢"),
        ("mail: Li_Si+x@mail.gov.cn.", "mail: L***@mail.gov.cn."),
        ("两个号码13812341111和13900002222", "两个号码138****1111和139****2222"),
    ],
)
def test_personal_data_is_masked(text, expected):
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Q12 还没有答复",
        "截止 2026-11-30 14:30",
        "11月17日 08:30 前答复",
        "物业费1500元，面积 120.5 平方米",
        "订单号 20261130083000123456789",  # a longer run of digits is no phone or card
        "编号1381234111122",
        "3号楼2单元1801室",
        "电话 010-12345678",
        "",
        "@政务助手 电梯坏了",
        "版本 v13812341111",
    ],
)
def test_no_false_positives(text):
    assert mask(text) == text
