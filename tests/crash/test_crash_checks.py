"""The crash suite checks its own allowances: the parts that only the journal exercises (uncertain
outbox rows, outbox rows against the sent log) cannot be seen failing or passing on code without it,
so they are tried here on a hand-made outbox."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from crash_checks import ACK, Uncertain, check_outbox_matches_sent
from crash_harness import Db, Findings, OutboxRow, payload_text
from sqlalchemy import text

pytestmark = pytest.mark.crash

GROUP = -1002000000001


def sent(message_id: int, body: str, chat_id: int = GROUP) -> dict[str, object]:
    """A message as the fake's sent log has it."""
    return {"message_id": message_id, "chat": {"id": chat_id}, "text": body}


@pytest.fixture
def db(tmp_path: Path) -> Db:
    """A store with only the contract's outbox table."""
    probe = Db(f"sqlite:///{tmp_path / 'outbox.db'}")
    with probe.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE outbox (id INTEGER PRIMARY KEY, event_id INTEGER, platform TEXT, "
                "chat_id TEXT, kind TEXT, payload TEXT, state TEXT, platform_message_id TEXT, "
                "created_at TEXT, sent_at TEXT)"
            )
        )
    return probe


def add(db: Db, state: str, body: str, message_id: str | None = None) -> None:
    """One outbox row in ``GROUP`` whose payload is JSON (escaped, as json.dumps does by default)."""
    payload = json.dumps({"chat_id": str(GROUP), "text": body})
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (platform, chat_id, kind, payload, state, platform_message_id) "
                "VALUES ('telegram', :chat, 'reply', :payload, :state, :mid)"
            ),
            {"chat": str(GROUP), "payload": payload, "state": state, "mid": message_id},
        )


def test_payload_text_reads_json_and_plain_payloads() -> None:
    assert payload_text(json.dumps({"message": {"text": "编号 Q3。"}})) == "编号 Q3。"
    assert payload_text(b'{"text": "\\u7f16\\u53f7 Q3\\u3002"}') == "编号 Q3。"
    assert payload_text("编号 Q3。") == "编号 Q3。"


def test_an_uncertain_row_excuses_one_missing_message_once() -> None:
    row = OutboxRow(1, "telegram", str(GROUP), "reply", "已收到您的问题，编号 Q3。", None)
    uncertain = Uncertain([row])
    assert not uncertain.excuse(GROUP, ACK, 4)
    assert not uncertain.excuse(-1, ACK, 3)
    assert uncertain.excuse(GROUP, ACK, 3)
    assert not uncertain.excuse(GROUP, ACK, 3)  # used up


def test_outbox_and_sent_log_agree(db: Db) -> None:
    add(db, "sent", "已收到您的问题，编号 Q1。", "7")
    add(db, "uncertain", "已收到您的问题，编号 Q2。")
    posted = [sent(7, "已收到您的问题，编号 Q1。"), sent(8, "已收到您的问题，编号 Q2。")]
    findings = Findings("agree")
    check_outbox_matches_sent(findings, db, posted, Uncertain(db.outbox_rows("uncertain")))
    assert findings.problems == []
    assert findings.figures["posted messages standing for an uncertain row"] == 1


def test_a_post_without_its_outbox_row_and_a_phantom_row_are_reported(db: Db) -> None:
    add(db, "sent", "已收到您的问题，编号 Q1。", "7")
    add(db, "sent", "已收到您的问题，编号 Q9。", "99")
    posted = [sent(7, "已收到您的问题，编号 Q1。"), sent(8, "Q1 已答复。")]
    findings = Findings("disagree")
    check_outbox_matches_sent(findings, db, posted, Uncertain([]))
    assert any(
        re.search(r"1 outbox rows name a message Telegram never got", p) for p in findings.problems
    )
    assert any("1 messages posted without an outbox row" in p for p in findings.problems)


def test_counts_report_lost_and_duplicated() -> None:
    findings = Findings("counts")
    findings.expect_count("acks", {"a": 1, "b": 0, "c": 2})
    assert findings.figures["acks: lost"] == 1 and findings.figures["acks: duplicated"] == 1
    assert len(findings.problems) == 2
