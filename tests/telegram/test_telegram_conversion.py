"""Pure conversions of the Telegram adapter, on recorded payloads: updates in, markup and parts out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram import Update
from telegram_support import BOT_USERNAME, PAYLOADS, load_payload

from bot.adapters.telegram import split_text, to_incoming, to_markup
from bot.events import Button, EventKind

GROUP_ID = "-1001234567890"
WANG = "5012345678"
NOW = datetime(2026, 11, 16, 0, 30, tzinfo=UTC)


def convert(name: str, username: str = BOT_USERNAME):
    update = Update.de_json(load_payload(name), None)
    assert update is not None
    return to_incoming(update, username, ["政务助手"], now=NOW)


def test_every_payload_matches_the_bot_api_spec(spec):
    names = sorted(p.stem for p in PAYLOADS.glob("*.json"))
    assert len(names) >= 15
    for name in names:
        assert spec.check_value(load_payload(name), ["Update"], name) == []


def test_supergroup_mention_by_entity():
    msg = convert("supergroup_mention")
    assert msg is not None
    assert msg.platform == "telegram" and msg.kind is EventKind.MESSAGE
    assert (
        msg.chat.chat_id == GROUP_ID and msg.chat.is_group and msg.chat.title == "幸福里小区居民群"
    )
    assert msg.sender.user_id == WANG and msg.sender.display_name == "芳 王"
    assert not msg.sender.is_bot
    assert msg.mentions_bot
    assert msg.text == "@minyi_test_bot 请问3号楼电梯什么时候能修好？已经停了三天了"
    assert msg.message_id == "101"
    assert msg.sent_at == datetime.fromtimestamp(1763253000 + 101, UTC)
    assert msg.sent_at.tzinfo is not None and msg.sent_at.utcoffset().total_seconds() == 0
    assert msg.reply_to_message_id is None


def test_mention_is_case_insensitive_and_works_in_captions():
    msg = convert("photo_caption")
    assert msg is not None and msg.mentions_bot
    assert msg.text == "@MINYI_TEST_BOT 门口积水严重"


def test_text_mention_of_the_bot():
    msg = convert("text_mention")
    assert msg is not None and msg.mentions_bot
    assert msg.text.startswith("政务助手")


def test_alias_typed_as_text_is_left_for_the_dispatcher():
    msg = convert("alias_in_text")
    assert msg is not None
    assert not msg.mentions_bot
    assert msg.text == "@政务助手 垃圾清运一般是几点？"


def test_mention_of_another_bot_is_not_ours():
    msg = convert("mention_other_bot")
    assert msg is not None and not msg.mentions_bot


def test_without_a_known_username_nothing_is_a_mention():
    msg = convert("supergroup_mention", username="")
    assert msg is not None and not msg.mentions_bot


def test_entity_offsets_are_utf16_with_emoji_and_traditional_chinese():
    msg = convert("traditional_emoji")
    assert msg is not None and msg.mentions_bot
    assert msg.text == "🏠請問 @minyi_test_bot 社區停車位什麼時候開放登記？謝謝"
    assert msg.sender.display_name == "陳 大文"


def test_reply_to_the_bot_is_not_a_mention_but_keeps_reply_info():
    msg = convert("reply_to_bot")
    assert msg is not None
    assert not msg.mentions_bot
    assert msg.reply_to_message_id == "104"
    assert msg.reply_to_sender_id == "7000000001"
    assert msg.reply_to_text is not None and "Q12" in msg.reply_to_text


def test_command_addressed_to_the_bot_passes_unchanged():
    msg = convert("command_with_botname")
    assert msg is not None and msg.kind is EventKind.MESSAGE
    assert msg.text == "/status@minyi_test_bot Q12"


def test_edited_message_names_the_original():
    msg = convert("edited")
    assert msg is not None and msg.kind is EventKind.EDITED
    assert msg.message_id == "101"
    assert msg.text.endswith("已经停了四天了")
    assert msg.sent_at == datetime.fromtimestamp(1763253000 + 400, UTC)
    assert msg.mentions_bot


def test_new_members():
    msg = convert("new_members")
    assert msg is not None and msg.kind is EventKind.MEMBER_JOINED
    assert [(p.user_id, p.display_name) for p in msg.members] == [
        ("5045678901", "刘 洋"),
        ("5056789012", "Li Mei"),
    ]
    assert msg.sender.display_name == "张伟"


def test_left_member():
    msg = convert("left_member")
    assert msg is not None and msg.kind is EventKind.MEMBER_LEFT
    assert [p.user_id for p in msg.members] == ["5056789012"]


def test_the_bot_joining_a_group_is_kept_as_a_member_event():
    msg = convert("bot_added")
    assert msg is not None and msg.kind is EventKind.MEMBER_JOINED
    assert msg.members[0].is_bot and msg.members[0].user_id == "7000000001"
    assert not msg.sender.is_bot  # the admin who added it


def test_callback_query_becomes_a_button_press():
    msg = convert("callback_query")
    assert msg is not None and msg.kind is EventKind.BUTTON
    assert msg.button is not None
    assert msg.button.press_id == "4382000000000000011"
    assert msg.button.data == "rate:12:s"
    assert msg.button.message_id == "110"
    assert msg.message_id == "110"
    assert msg.chat.chat_id == GROUP_ID and msg.chat.is_group
    assert msg.sender.user_id == WANG
    assert msg.reply_to_message_id == "101"  # the answer quotes the resident's question
    assert msg.sent_at == NOW


def test_messages_from_other_bots_are_ignored():
    assert convert("from_other_bot") is None


def test_an_anonymous_administrator_is_marked_not_dropped():
    # Telegram sends it "from" GroupAnonymousBot with the group as sender_chat; who it is stays unknown.
    msg = convert("anonymous_admin")
    assert msg is not None
    assert msg.sender.anonymous and not msg.sender.is_bot
    assert msg.sender.display_name == "社区书记"  # the admin's custom title, if any
    assert (
        msg.sender.user_id != "1087968824"
    )  # never one person's id: all anonymous admins share it
    assert msg.text == "/reply Q1 1"


def test_private_message():
    msg = convert("private")
    assert msg is not None
    assert not msg.chat.is_group and msg.is_private
    assert msg.chat.chat_id == "5023456789" and msg.chat.title == "张伟"
    assert msg.text == "/reply Q12 已安排维修人员今天下午到场"


@pytest.mark.parametrize("name", ["channel_post", "group_migrated", "sticker"])
def test_updates_minyi_ignores(name):
    assert convert(name) is None


def test_forum_topic_root_is_not_a_reply():
    msg = convert("forum_topic")
    assert msg is not None and msg.mentions_bot
    assert msg.reply_to_message_id is None and msg.reply_to_text is None


def test_markup_passes_data_through():
    markup = to_markup(
        [
            [Button("1. 电梯维修进度", "pick:12:1"), Button("2. 物业联系方式", "pick:12:2")],
            [Button("满意", "rate:12:s")],
        ]
    )
    assert markup is not None
    data = [[b.callback_data for b in row] for row in markup.inline_keyboard]
    assert data == [["pick:12:1", "pick:12:2"], ["rate:12:s"]]
    assert to_markup([]) is None


def test_markup_refuses_callback_data_over_64_bytes():
    to_markup([[Button("ok", "x" * 64)]])
    with pytest.raises(ValueError, match="64"):
        to_markup([[Button("太长", "评" * 22)]])  # 66 bytes of UTF-8


def test_split_9000_characters_on_line_boundaries():
    lines = [f"第{i:03d}行：" + "居民反映的问题和答复内容" * 3 + "谢谢" for i in range(200)]
    text = "\n".join(lines) + "。"
    assert len(text) == 9000
    parts = split_text(text)
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text  # nothing lost, cuts only at newlines
    assert all(p.startswith("第") for p in parts)


def test_split_without_newlines_and_with_astral_characters():
    text = "😀" * 4500  # 9000 UTF-16 units
    parts = split_text(text)
    assert "".join(parts) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert split_text("短消息") == ["短消息"]
    words = " ".join(["word"] * 2000)
    parts = split_text(words)
    assert all(len(p) <= 4096 for p in parts) and " ".join(parts) == words
