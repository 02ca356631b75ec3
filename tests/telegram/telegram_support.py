"""Constants and helpers the Telegram tests share (a plain module: test files import it by name)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "7000000001:AAHfakeTokenForMinyiTests_x9QzV3kLmNpR"
"""A token shaped like a real one (bot id, colon, 35 characters); only the fake server knows it."""
BOT_USERNAME = "minyi_test_bot"


def load_payload(name: str) -> dict[str, Any]:
    """A recorded update from ``payloads/<name>.json``."""
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
