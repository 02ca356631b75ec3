"""The exact-once checks of the crash suite: what the store and the fake's sent log must hold once the
bot has drained.

Everything must be exact, with one allowance from the project's rule "never post twice on a guess": a
message whose send was in flight when the process was SIGKILLed is marked ``uncertain`` in the outbox
and not sent again, so it may be missing from the sent log (never there twice). Each such miss is
matched to its uncertain outbox row and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from crash_harness import APOLOGY, GREETING, Db, Findings, OutboxRow, ThreadedFakeApi
from crash_stream import ConsoleLine, Stream, console_roster

JSON = dict[str, Any]

ACK = re.compile(r"已收到您的问题，编号 Q(\d+)。")
CONFIRM = re.compile(r"^Q(\d+) 已答复。")
THANKS = re.compile(r"感谢您的评价（[^）]+）！Q(\d+) 已办结")
REOPENED = re.compile(r"很抱歉答复未能让您满意，Q(\d+) 已重新打开")
ALERT = re.compile(r"^【(?:新问题|问题) Q(\d+)】")
UNSATISFIED = re.compile(r"^【Q(\d+) 不满意】")
STATUS = re.compile(r"^(?:Q\d+：|您还没有提过问题)")

PER_KILL_UNCERTAIN = 16
"""At most this many sends may be in flight when a process dies (python-telegram-bot's connection pool
in minyi is 16): more uncertain rows than that per SIGKILL means sends are marked uncertain on a guess."""


class Uncertain:
    """The outbox rows marked uncertain, matched at most once each against a missing message."""

    def __init__(self, rows: Sequence[OutboxRow]) -> None:
        self.rows = list(rows)
        self.used: set[int] = set()

    def excuse(self, chat_id: Any, pattern: re.Pattern[str], number: int) -> bool:
        """True (and the row is used) when an unused uncertain row in ``chat_id`` carries the text
        ``pattern`` matches with ticket ``number``."""
        for row in self.rows:
            if row.id in self.used or row.chat_id != str(chat_id):
                continue
            match = pattern.search(row.text)
            if match and int(match.group(1)) == number:
                self.used.add(row.id)
                return True
        return False


def _classify(message: JSON) -> tuple[str, int | None]:
    text = message.get("text", "")
    for name, pattern in (
        ("ack", ACK),
        ("confirm", CONFIRM),
        ("thanks", THANKS),
        ("reopened", REOPENED),
        ("alert", ALERT),
        ("unsatisfied", UNSATISFIED),
    ):
        match = pattern.search(text)
        if match:
            return name, int(match.group(1))
    if APOLOGY in text:
        return "apology", None
    if text.startswith(GREETING):
        return "greeting", None
    return "other", None


def check_telegram(
    findings: Findings,
    stream: Stream,
    fake: ThreadedFakeApi,
    db: Db,
    *,
    kills: int,
) -> None:
    """Every group update stored once; every question one ticket with one acknowledgement and one
    alert; every answer recorded once and confirmed once; every rating stored once and thanked
    once; no apology, no greeting, nothing unexpected posted; the outbox consistent with what
    Telegram got. ``kills``: SIGKILLs the run survived (bounds the uncertain sends)."""
    sent = fake.sent()
    rows = db.outbox_rows("uncertain")
    uncertain = Uncertain(rows)
    findings.figure("updates in the stream", len(stream.updates))
    findings.figure("messages the bot posted", len(sent))
    findings.figure("outbox rows uncertain", len(rows))
    findings.check(
        len(rows) <= PER_KILL_UNCERTAIN * kills,
        f"{len(rows)} outbox rows uncertain after {kills} SIGKILL(s); at most "
        f"{PER_KILL_UNCERTAIN} per kill can have been in flight",
    )

    # 1. Every group update stored exactly once.
    stored = {
        (str(chat), str(mid)): n
        for chat, mid, n in db.rows(
            "SELECT chat_id, platform_message_id, count(*) FROM messages "
            "WHERE platform = 'telegram' GROUP BY chat_id, platform_message_id"
        )
    }
    expected = {(str(c), str(m)): 1 for c, m in stream.group_messages}
    findings.expect_count(
        "group messages stored", {k: stored.get(k, 0) for k in expected}, expected
    )
    strays = [k for k in stored if k not in expected]
    findings.check(
        not strays, f"{len(strays)} stored messages not in the stream, e.g. {strays[:5]}"
    )

    # 2. Every question exactly one ticket.
    tickets: dict[tuple[str, str], list[Any]] = {}
    for row in db.rows(
        "SELECT id, chat_id, platform_message_id, answer_platform_message_id FROM questions "
        "WHERE platform = 'telegram' ORDER BY id"
    ):
        tickets.setdefault((str(row[1]), str(row[2])), []).append(row)
    by_thread = {
        i: tickets.get((str(t.chat_id), str(t.question_mid)), [])
        for i, t in enumerate(stream.threads)
    }
    findings.expect_count("tickets", {i: len(v) for i, v in by_thread.items()})
    question_keys = {(str(t.chat_id), str(t.question_mid)) for t in stream.threads}
    odd = [k for k in tickets if k not in question_keys]
    findings.check(not odd, f"{len(odd)} tickets for messages that are not questions: {odd[:5]}")

    # What the bot posted, by kind and ticket number.
    kinds: Counter[str] = Counter()
    posted: dict[tuple[str, int], list[JSON]] = {}
    others: list[str] = []
    for message in sent:
        kind, number = _classify(message)
        kinds[kind] += 1
        if number is not None:
            posted.setdefault((kind, number), []).append(message)
        elif kind == "other":
            others.append(message.get("text", "")[:60])
    findings.figure("posted by kind", dict(sorted(kinds.items())))
    findings.check(kinds["apology"] == 0, f"{kinds['apology']} apologies ({APOLOGY}…) posted")
    findings.check(
        kinds["greeting"] == 0,
        f"{kinds['greeting']} greetings posted: questions of the stream were taken for small talk",
    )
    findings.check(not others, f"{len(others)} unexpected messages posted, e.g. {others[:3]}")

    def count(
        kind: str,
        tickets: Sequence[int],
        chat_id: int,
        pattern: re.Pattern[str],
        reply_to: int | None = None,
    ) -> int:
        """Posts of ``kind`` for any of ``tickets`` in ``chat_id`` (replying to ``reply_to``); a
        missing one counts as posted once when an uncertain outbox row stands for it."""
        found = [
            m
            for number in tickets
            for m in posted.get((kind, number), [])
            if m["chat"]["id"] == chat_id
            and (reply_to is None or m.get("reply_to_message", {}).get("message_id") == reply_to)
        ]
        if not found and any(uncertain.excuse(chat_id, pattern, n) for n in tickets):
            return 1
        return len(found)

    acks: dict[int, int] = {}
    alerts: dict[int, int] = {}
    recorded: dict[int, int] = {}
    engaged: dict[int, int] = {}
    confirms: dict[int, int] = {}
    ratings: dict[int, int] = {}
    rating_replies: dict[int, int] = {}
    notices: dict[int, int] = {}
    engagement = {
        int(q): int(n)
        for q, n in db.rows(
            "SELECT question_id, count(*) FROM engagements WHERE kind = 'answer' "
            "GROUP BY question_id"
        )
    }
    scores: dict[int, list[str]] = {}
    for question_id, score in db.rows("SELECT question_id, score FROM ratings"):
        scores.setdefault(int(question_id), []).append(str(score))
    for i, thread in enumerate(stream.threads):
        rows = by_thread[i]
        if not rows:
            continue  # reported as a lost ticket; a duplicated one counts all its posts below
        numbers = [int(row[0]) for row in rows]
        acks[i] = count("ack", numbers, thread.chat_id, ACK, thread.question_mid)
        alerts[i] = count("alert", numbers, thread.official_id, ALERT)
        recorded[i] = sum(str(row[3]) == str(thread.answer_mid) for row in rows)
        engaged[i] = sum(engagement.get(n, 0) for n in numbers)
        confirms[i] = count("confirm", numbers, thread.chat_id, CONFIRM, thread.answer_mid)
        got = [s for n in numbers for s in scores.get(n, [])]
        ratings[i] = len(got) if all(s == thread.score for s in got) else 0
        if thread.score == "unsatisfied":
            rating_replies[i] = count("reopened", numbers, thread.chat_id, REOPENED)
            notices[i] = count("unsatisfied", numbers, thread.official_id, UNSATISFIED)
        else:
            rating_replies[i] = count("thanks", numbers, thread.chat_id, THANKS)
    findings.expect_count("acknowledgements (编号 Q) posted", acks)
    findings.expect_count("alerts to officials posted", alerts)
    findings.expect_count("answers recorded on their ticket", recorded)
    findings.expect_count("answer engagements", engaged)
    findings.expect_count("answers confirmed (Q已答复) posted", confirms)
    findings.expect_count("ratings stored", ratings)
    findings.expect_count("rating replies posted", rating_replies)
    if notices:
        findings.expect_count("不满意 notices to officials", notices)
    findings.figure("uncertain rows excusing a missing message", len(uncertain.used))
    total_tickets = int(db.scalar("SELECT count(*) FROM questions") or 0)
    findings.check(
        total_tickets == len(stream.threads),
        f"{total_tickets} tickets in the store for {len(stream.threads)} questions",
    )
    check_outbox_matches_sent(findings, db, sent, uncertain)
    check_fake(findings, fake)


def check_outbox_matches_sent(
    findings: Findings, db: Db, sent: Sequence[JSON], uncertain: Uncertain
) -> None:
    """Each outbox row with a platform message id was posted (it is in the sent log), and each posted
    message has its outbox row — or is the one posting an uncertain row may stand for."""
    if not db.has_table("outbox"):
        findings.check(False, "no outbox table: the journal (inbox/outbox) does not exist yet")
        return
    recorded = {
        (str(chat), str(mid))
        for chat, mid in db.rows(
            "SELECT chat_id, platform_message_id FROM outbox WHERE platform_message_id IS NOT NULL"
        )
    }
    posted = {(str(m["chat"]["id"]), str(m["message_id"])): m for m in sent}
    phantom = sorted(recorded - set(posted))
    findings.check(
        not phantom,
        f"{len(phantom)} outbox rows name a message Telegram never got, e.g. {phantom[:5]}",
    )
    unrecorded = [posted[k] for k in posted if k not in recorded]
    texts: Counter[tuple[str, str]] = Counter((r.chat_id, r.text) for r in uncertain.rows)
    orphans = []
    for message in unrecorded:
        key = (str(message["chat"]["id"]), message.get("text", ""))
        if texts[key] > 0:
            texts[key] -= 1
        else:
            orphans.append(key[1][:40])
    findings.figure("posted messages standing for an uncertain row", len(unrecorded) - len(orphans))
    findings.check(
        not orphans,
        f"{len(orphans)} messages posted without an outbox row, e.g. {orphans[:3]}",
    )


def check_journal_idle(findings: Findings, db: Db, *, poison: int = 0) -> None:
    """The inbox has nothing pending and ``poison`` poison rows; the outbox nothing pending, sending
    or failed."""
    journal = db.journal()
    if journal is None:
        findings.check(False, "no inbox/outbox tables: the journal does not exist yet")
        return
    findings.figure("inbox by state", journal.inbox)
    findings.figure("outbox by state", journal.outbox)
    findings.check(
        journal.busy == 0, f"journal not idle: inbox {journal.inbox}, outbox {journal.outbox}"
    )
    findings.check(
        journal.inbox.get("poison", 0) == poison,
        f"{journal.inbox.get('poison', 0)} poison events in the inbox, expected {poison}",
    )
    findings.check(
        journal.outbox.get("failed", 0) == 0,
        f"{journal.outbox.get('failed', 0)} outbox rows failed (every chat here is reachable)",
    )


def check_fake(findings: Findings, fake: ThreadedFakeApi) -> None:
    """No request broke the Bot API spec or was refused; nothing is left unconfirmed."""
    violations, errors = fake.problems()
    findings.check(not violations, f"{len(violations)} spec violations, e.g. {violations[:3]}")
    findings.check(not errors, f"{len(errors)} refused requests, e.g. {errors[:3]}")
    pending = fake.pending()
    findings.check(pending == 0, f"{pending} updates never confirmed to the fake Telegram")


# --------------------------------------------------------------------------- console


OFFICIALS = tuple(e.name for e in console_roster() if e.role == "official")
"""Who the console alerts (their private chat ids are their names)."""
BOT_LINE = re.compile(r"^\[(?P<where>[^\]]+)\] 政务助手: (?P<text>.*)$")


def console_posts(stdout: str) -> list[tuple[str, str]]:
    """(where, text) of every message the console printed (continuation lines joined)."""
    posts: list[tuple[str, str]] = []
    for line in stdout.splitlines():
        match = BOT_LINE.match(line)
        if match:
            posts.append((match["where"], match["text"]))
        elif line.startswith("    ") and posts:
            where, text = posts[-1]
            posts[-1] = (where, text + "\n" + line[4:])
    return posts


def check_console(
    findings: Findings,
    script: Sequence[ConsoleLine],
    stdouts: Sequence[str],
    db: Db,
    *,
    kills: int,
    label: str,
    after_outbox_id: int = 0,
) -> None:
    """Every line of ``script`` handled once across the runs whose output is ``stdouts``: its message
    stored once, each question one ticket with one acknowledgement and one alert, each /status one
    answer; no apology. Rows of earlier scripts in the same store are ignored: outbox rows up to
    ``after_outbox_id`` belong to earlier runs (and their kills)."""
    posts = [p for out in stdouts for p in console_posts(out)]
    rows = [
        r for r in db.outbox_rows("uncertain") if r.platform == "console" and r.id > after_outbox_id
    ]
    uncertain = Uncertain(rows)
    findings.figure(f"{label}: lines", len(script))
    findings.figure(f"{label}: messages printed", len(posts))
    findings.figure(f"{label}: outbox rows uncertain", len(rows))

    expected = Counter((line.group, line.name, line.text) for line in script)
    stored = {
        (str(chat), str(who), str(body)): int(n)
        for chat, who, body, n in db.rows(
            "SELECT m.chat_id, p.platform_user_id, m.text, count(*) FROM messages m "
            "JOIN persons p ON p.id = m.person_id WHERE m.platform = 'console' "
            "GROUP BY m.chat_id, p.platform_user_id, m.text"
        )
    }
    findings.expect_count(
        f"{label}: lines stored as messages",
        {k: stored.get(k, 0) for k in expected},
        dict(expected),
    )

    questions = [line for line in script if line.kind == "question"]
    ids: dict[str, list[int]] = {}
    for qid, body in db.rows("SELECT id, text FROM questions WHERE platform = 'console'"):
        ids.setdefault(str(body), []).append(int(qid))
    findings.expect_count(
        f"{label}: tickets", {q.question_text: len(ids.get(q.question_text, [])) for q in questions}
    )
    acks: Counter[int] = Counter()
    alerts: Counter[int] = Counter()
    statuses = apologies = 0
    for _, text in posts:
        if match := ACK.search(text):
            acks[int(match.group(1))] += 1
        elif match := ALERT.search(text):
            alerts[int(match.group(1))] += 1
        elif STATUS.search(text):
            statuses += 1
        if APOLOGY in text:
            apologies += 1
    ack_counts: dict[str, int] = {}
    alert_counts: dict[str, int] = {}
    for q in questions:
        numbers = ids.get(q.question_text, [])
        if not numbers:
            continue  # reported as a lost ticket
        n = sum(acks.get(number, 0) for number in numbers)
        if n == 0 and any(uncertain.excuse(q.group, ACK, number) for number in numbers):
            n = 1
        ack_counts[q.question_text] = n
        n = sum(alerts.get(number, 0) for number in numbers)
        if n == 0 and any(
            uncertain.excuse(o, ALERT, number) for o in OFFICIALS for number in numbers
        ):
            n = 1
        alert_counts[q.question_text] = n
    findings.expect_count(f"{label}: acknowledgements printed", ack_counts)
    findings.expect_count(f"{label}: alerts printed", alert_counts)
    want = sum(1 for line in script if line.kind == "status")
    findings.figure(f"{label}: /status answers expected", want)
    findings.figure(f"{label}: /status answers printed", statuses)
    findings.check(
        statuses == want
        or (statuses < want and statuses + len(rows) - len(uncertain.used) >= want),
        f"{label}: {statuses} answers printed for {want} /status lines",
    )
    findings.check(apologies == 0, f"{label}: {apologies} apologies printed")
    findings.check(
        len(rows) <= PER_KILL_UNCERTAIN * kills,
        f"{label}: {len(rows)} console outbox rows uncertain after {kills} SIGKILL(s)",
    )
