"""The access matrix of docs/SECURITY.md, cell by cell: every command and button × role × chat.

The table is parsed from the document. One test checks it against the route declarations (what
``handlers/__init__.py`` says about roles, chats and private answers must be what the document says);
the other walks every cell through the dialogue harness, on both engines, each cell on a ticket of its
own, and fails listing every cell whose observed outcome differs from the document (with the observed
table to compare).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.events import ButtonPress, EventKind, IncomingMessage
from bot.routes import PRIVATE_NOTE, ChatType, Route, refusal
from bot.work import Role
from handlers import default_routes
from handlers.rate import REFUSALS
from handlers.rating_rules import Refusal
from handlers.scope import OUT_OF_SCOPE
from tests_support import REPO

SECURITY = REPO / "docs" / "SECURITY.md"
BEGIN, END = "<!-- access-matrix:begin -->", "<!-- access-matrix:end -->"

ALLOWED, NOTE, ROLE, CHAT, SCOPE = "✓", "note", "role", "chat", "scope"
OUTCOMES = {ALLOWED, NOTE, ROLE, CHAT, SCOPE}

# The people of the matrix: who each column is, their role, and their account.
COLUMNS = {
    "resident": (Role.RESIDENT, "liu"),
    "asker": (Role.RESIDENT, "wangayi"),
    "group official": (Role.OFFICIAL, "lina"),
    "department official": (Role.OFFICIAL, "sunli"),
    "assignee": (Role.OFFICIAL, "zhaoliu"),
    "other official": (Role.OFFICIAL, "qianqi"),
    "supervisor (jurisdiction)": (Role.SUPERVISOR, "chenjing"),
    "supervisor (elsewhere)": (Role.SUPERVISOR, "zhouba"),
    "admin": (Role.ADMIN, "wujiu"),
}
# The ticket of every cell is asked in 幸福里 (xingfuli) by 王阿姨, about housing (住房和城乡建设局),
# and assigned to 赵六, who neither serves 幸福里 nor belongs to that department.
ROSTER = [
    {
        "name": "李娜",
        "department": "交通运输局",
        "identities": ["test:lina"],
        "groups": ["test:xingfuli"],
    },
    {
        "name": "孙丽",
        "department": "住房和城乡建设局",
        "identities": ["test:sunli"],
        "groups": ["test:yangguang"],
    },
    {"name": "赵六", "department": "生态环境局", "identities": ["test:zhaoliu"]},
    {
        "name": "钱七",
        "department": "交通运输局",
        "identities": ["test:qianqi"],
        "groups": ["test:yangguang"],
    },
    {
        "name": "陈静",
        "role": "supervisor",
        "identities": ["test:chenjing"],
        "groups": ["test:xingfuli"],
    },
    {
        "name": "周八",
        "role": "supervisor",
        "department": "交通运输局",
        "identities": ["test:zhouba"],
        "groups": ["test:yangguang"],
    },
    {"name": "吴九", "role": "admin", "identities": ["test:wujiu"]},
]
HOUSING = "住房和城乡建设局"


@dataclass(frozen=True)
class Row:
    """One row of the matrix: the route it exercises and how a person uses it."""

    route: str
    """The route's name (``reply``, ``button pick:``)."""
    text: str = ""
    """What is typed (``{q}`` is the cell's ticket number); empty for buttons and /ticket."""
    button: str = ""
    """The button's data, for button rows."""
    answered: bool = False
    """The cell's ticket is answered first (to be rated)."""


ROWS = {
    "`/help`": Row("help", "/help"),
    "`/start`": Row("start", "/start"),
    "unknown command": Row("unknown", "/frobnicate"),
    "`/bind CODE`": Row("bind", "/bind WRONG123"),
    "`/status Qn`": Row("status", "/status Q{q}"),
    "`/status`": Row("status", "/status"),
    "`/rate Qn 满意`": Row("rate", "/rate Q{q} 满意", answered=True),
    "`/suggest Qn`": Row("suggest", "/suggest Q{q}"),
    "`/reply Qn text`": Row("reply", "/reply Q{q} 已安排维修"),
    "`/ticket` (replying to a message)": Row("ticket"),
    "`/transfer Qn dept`": Row("transfer", "/transfer Q{q} 交通运输局"),
    "`/speak text`": Row("speak", "/speak 明天上午停水"),
    "`/digest`": Row("digest", "/digest"),
    "`/summary 7d`": Row("summary", "/summary 7d"),
    "`/unmask Qn`": Row("unmask", "/unmask Q{q}"),
    "`/history Qn`": Row("history", "/history Q{q}"),
    "`/extend Qn 3d reason`": Row("extend", "/extend Q{q} 3d 需要协调施工单位"),
    "`/approve Qn`": Row("approve", "/approve Q{q}"),
    "`/return Qn reason`": Row("return", "/return Q{q} 不属于本部门职责"),
    "`/visit Qn text`": Row("visit", "/visit Q{q} 上门查看，已联系维修"),
    "`/case text`": Row("case", "/case 居民来电：5号楼路灯不亮"),
    "`/close Qn reason`": Row("close", "/close Q{q} 居民已自行解决"),
    "`/link Q1 Qn`": Row("link", "/link Q1 Q{q}"),
    "`/unlink Qn`": Row("unlink", "/unlink Q{q}"),
    "`/adopt` (replying to a message)": Row("adopt"),
    "`/suggestion S1 status`": Row("suggestion", "/suggestion S1 研究中 正在论证"),
    "`/suggestions`": Row("suggestions", "/suggestions"),
    "`/schedule`": Row("schedule", "/schedule"),
    "`/cancel Jn`": Row("cancel", "/cancel J1"),
    "`/broadcast text`": Row("broadcast", "/broadcast 明天上午停水"),
    "button `pick:Qn:1`": Row("button pick:", button="pick:{q}:1"),
    "button `rate:Qn:s`": Row("button rate:", button="rate:{q}:s", answered=True),
}
CHATS = {"group": ChatType.GROUP, "private": ChatType.PRIVATE}


def documented() -> dict[tuple[str, str], dict[str, str]]:
    """The matrix in docs/SECURITY.md: (row, chat) → column → outcome."""
    text = SECURITY.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/SECURITY.md has no access matrix"
    lines = [ln for ln in text.split(BEGIN)[1].split(END)[0].splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["command or button", "chat"] and header[2:] == list(COLUMNS), header
    table: dict[tuple[str, str], dict[str, str]] = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        row, chat, outcomes = cells[0], cells[1], cells[2:]
        assert set(outcomes) <= OUTCOMES, (row, chat, outcomes)
        table[(row, chat)] = dict(zip(COLUMNS, outcomes, strict=True))
    return table


def render(observed: dict[tuple[str, str], dict[str, str]]) -> str:
    """``observed`` as the document's table (to compare, or to paste after a deliberate change)."""
    lines = [
        "| command or button | chat | " + " | ".join(COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for (row, chat), cells in observed.items():
        lines.append(f"| {row} | {chat} | " + " | ".join(cells[c] for c in COLUMNS) + " |")
    return "\n".join(lines)


def route_named(name: str) -> Route:
    return next(r for r in default_routes().routes if r.name == name)


def test_the_document_lists_every_command_and_button_and_agrees_with_the_routes():
    table = documented()
    routes = default_routes().routes
    declared = {r.name for r in routes if r.command is not None or r.button is not None}
    assert {ROWS[row].route for row, _ in table} == declared
    assert set(table) == {(row, chat) for row in ROWS for chat in CHATS}
    for (row, chat), cells in table.items():
        route = route_named(ROWS[row].route)
        for column, outcome in cells.items():
            role = COLUMNS[column][0]
            if role not in route.roles:
                expected = {ROLE}
            elif CHATS[chat] not in route.chats:
                expected = {CHAT}
            elif route.private_answer is True and chat == "group":
                expected = {NOTE}
            else:  # decided by the handler and the ticket: the walk below checks these
                expected = {ALLOWED, SCOPE} | ({NOTE} if route.private_answer else set())
            assert outcome in expected, (row, chat, column, outcome, expected)


# ------------------------------------------------------------------ walking every cell


class Walk:
    """The matrix's dialogue: its people, and a fresh ticket for each cell."""

    def __init__(self, chat) -> None:
        self.chat = chat
        self.bot = chat.bot
        self.people = {
            column: self.bot.person(column, user_id) for column, (_, user_id) in COLUMNS.items()
        }
        self.tickets = 0
        self.assignee = chat.app.store.official_for_identity("test", "zhaoliu")

    def ticket(self, answered: bool) -> int:
        """A new housing ticket in 幸福里, asked by 王阿姨, assigned to 赵六."""
        store, now = self.chat.app.store, self.chat.clock.now
        self.tickets += 1
        question = store.open_question(
            platform="test",
            chat_id="xingfuli",
            chat_title="幸福里小区",
            is_group=True,
            platform_message_id=f"ask-{self.tickets}",
            asker_id="wangayi",
            asker_name="王阿姨",
            text="3号楼电梯坏了，物业不管，请联系13812341111",
            department=HOUSING,
            department_confident=True,
            created_at=now,
            due_at=now.replace(year=now.year + 1),
            assignee_id=self.assignee.id,
            phrases=(),
        )
        if answered:
            store.answer_question(
                question.id,
                official_id=self.assignee.id,
                text="已修好",
                at=now,
                answer_platform_message_id=f"answer-{self.tickets}",
            )
        return question.id

    def event(self, column: str, chat: str, **fields) -> IncomingMessage:
        person = self.people[column]
        where = self.chat.group if chat == "group" else self.bot.private(person)
        self.tickets += 1
        return IncomingMessage(
            platform="test",
            chat=where,
            sender=person,
            message_id=f"m-{self.tickets}",
            sent_at=self.chat.clock.now,
            **fields,
        )

    async def use(self, row: Row, column: str, chat: str) -> tuple[list[str], int]:
        """Use ``row`` as ``column`` in ``chat``; returns (every text the bot showed, ticket)."""
        number = self.ticket(row.answered)
        notices = len(self.bot.notices)
        if row.button:
            data = row.button.format(q=number)
            event = self.event(
                column,
                chat,
                text="",
                kind=EventKind.BUTTON,
                button=ButtonPress(f"cb-{self.tickets}", data, "m-alert"),
            )
        elif row.route in ("ticket", "adopt"):
            event = self.event(
                column,
                chat,
                text=f"/{row.route}",
                reply_to_message_id=f"said-{self.tickets}",
                reply_to_sender_id="liu",
                reply_to_text="小区电梯坏了，物业不管",
            )
        else:
            event = self.event(column, chat, text=row.text.format(q=number))
        posted = await self.bot.deliver(event)
        shown = [p.text for p in posted]
        shown += [notice or "" for _, notice in self.bot.notices[notices:]]
        return shown, number


def classify(route: Route, shown: list[str], number: int) -> str:
    """What a person would make of the bot's answer to one use of ``route``."""
    everything = "\n".join(shown)
    scope_words = (
        OUT_OF_SCOPE.format(number=f"Q{number}")[:60],
        OUT_OF_SCOPE.format(number="这条消息")[:60],
        OUT_OF_SCOPE.split("{number}")[1][:20],  # whichever ticket the refusal names
        f"没有找到问题 Q{number}",
        REFUSALS[Refusal.NOT_THE_ASKER],
    )
    if refusal(route) in everything:
        return ROLE
    if route.wrong_chat and route.wrong_chat in everything:
        return CHAT
    if shown == [PRIVATE_NOTE]:
        return NOTE
    if any(word in everything for word in scope_words):
        return SCOPE
    assert shown, f"{route.name}: the bot said nothing"
    return ALLOWED


@pytest.fixture
def matrix_chat(dialogue):
    return dialogue(officials=ROSTER)


@pytest.mark.asyncio
async def test_every_cell_of_the_access_matrix(matrix_chat):
    walk = Walk(matrix_chat)
    expected = documented()
    observed: dict[tuple[str, str], dict[str, str]] = {}
    for (row_name, chat), cells in expected.items():
        row = ROWS[row_name]
        route = route_named(row.route)
        observed[(row_name, chat)] = {}
        for column in cells:
            shown, number = await walk.use(row, column, chat)
            observed[(row_name, chat)][column] = classify(route, shown, number)
    wrong = [
        f"{row} · {chat} · {column}: document {cells[column]}, observed "
        f"{observed[(row, chat)][column]}"
        for (row, chat), cells in expected.items()
        for column in cells
        if observed[(row, chat)][column] != cells[column]
    ]
    assert not wrong, "\n".join([*wrong, "", "observed:", render(observed)])
