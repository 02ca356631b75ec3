"""Constants and helpers the WeChat tests and the benchmark share (kept out of conftest so that
modules can import them): the cast of the fake puppet service, recorded payloads, app settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "payloads"
BOT_ID = "wxid_minyi_bot"
BOT_NAME = "政务助手"
ROOM_ID = "24537318927@chatroom"
ROOM_TOPIC = "幸福里小区业主群"
RESIDENT_ID = "wxid_wangayi"
RESIDENT_NAME = "王阿姨"
OFFICIAL_ID = "wxid_zhangwei"
OFFICIAL_NAME = "张伟"
SUPERVISOR_ID = "wxid_chenjing"
SUPERVISOR_NAME = "陈静"
TOKEN = "puppet_test_token_3f9c2a"


def load_payload(name: str) -> dict[str, Any]:
    """A recorded puppet exchange from ``payloads/<name>.json`` (wire JSON, camelCase)."""
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def payload_objects(name: str) -> tuple[Any, Any, Any, str]:
    """(MessagePayload, talker ContactPayload, RoomPayload or None, self id) of a recording."""
    from wechaty_grpc.wechaty.puppet import (
        ContactPayloadResponse,
        MessagePayloadResponse,
        RoomPayloadResponse,
    )

    data = load_payload(name)
    message = MessagePayloadResponse().from_dict(data["message"])
    talker = ContactPayloadResponse().from_dict(data["talker"]) if data.get("talker") else None
    room = RoomPayloadResponse().from_dict(data["room"]) if data.get("room") else None
    return message, talker, room, data["selfId"]


def populate(fake: Any) -> None:
    """The standard cast: the bot, a resident, an official, a supervisor, one room."""
    fake.add_contact(RESIDENT_ID, RESIDENT_NAME)
    fake.add_contact(OFFICIAL_ID, OFFICIAL_NAME, alias="张伟-住建局")
    fake.add_contact(SUPERVISOR_ID, SUPERVISOR_NAME)
    fake.add_room(ROOM_ID, ROOM_TOPIC, [RESIDENT_ID, OFFICIAL_ID])


def wechat_settings(database_url: str) -> Any:
    """Settings for an app with WeChat enabled: one official for the room, one supervisor."""
    from bot.config import Settings

    return Settings.model_validate(
        {
            "bot": {"name": BOT_NAME, "aliases": [BOT_NAME]},
            "database": {"url": database_url},
            "wechat": {"enabled": True, "send_timeout": 2.0},
            "departments": [
                {"name": "住房和城乡建设局", "keywords": ["物业", "电梯", "小区", "漏水"]},
                {"name": "交通运输局", "keywords": ["公交", "停车", "道路"]},
            ],
            "officials": [
                {
                    "name": OFFICIAL_NAME,
                    "department": "住房和城乡建设局",
                    "identities": [f"wechat:{OFFICIAL_ID}"],
                    "groups": [f"wechat:{ROOM_ID}"],
                },
                {
                    "name": SUPERVISOR_NAME,
                    "role": "supervisor",
                    "identities": [f"wechat:{SUPERVISOR_ID}"],
                },
            ],
        }
    )
