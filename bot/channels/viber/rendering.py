"""Replies as Viber messages: text, pictures, keyboards and rich-media button cards.

Text up to 7,000 characters per message (longer text is cut at line ends). Buttons of the last
Reply of a batch become the Viber keyboard (``ActionType: reply``, ``Silent``, the action in
``ActionBody`` behind the ``act:`` marker so a button press is never confused with typed text; URL
buttons ``open-url``), one grid row per Reply row, columns adding up to 6. Viber shows only the
latest message's keyboard, so buttons that would be lost there (those of an earlier Reply in the
batch, or a menu of more than 24 buttons) go into rich-media messages (cards of up to 7 rows of
6 columns, 6 cards per message) that stay clickable in the conversation, like Telegram's inline
keyboards. Images are ``picture`` messages whose URL the caller provides (the webhook server
serves them, see bot.channels.viber.media).

Before the user subscribes Viber allows one welcome message, as the webhook's HTTP response:
``welcome_message`` folds the welcome's Replies into one text with the main menu and the language
buttons.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

from bot.channels.text import split_text, utf16_length
from handlers.start import LANGUAGE_NAMES
from handlers.types import Button, Reply, UrlButton

ACTION_MARKER = "act:"  # ActionBody of our reply buttons: marker + the engine's action
MESSAGE_LIMIT = 7000
PICTURE_TEXT_LIMIT = 768
KEYBOARD_MAX_BUTTONS = 24
GRID_COLUMNS = 6
CARD_ROWS = 7  # rich media: rows per card
CARDS_PER_MESSAGE = 6
ACTION_BG = "#EDEBFC"  # light Viber purple for buttons shown inside the conversation

Message = dict[str, Any]  # a Viber message body without receiver, sender and min_api_version
ButtonRow = list[dict[str, Any]]  # Viber buttons whose Columns add up to 6


def column_widths(count: int) -> list[int]:
    """Widths of ``count`` (1..6) buttons filling one 6-column grid row: 3+3, 2+2+2, 2+2+1+1, ..."""
    base, extra = divmod(GRID_COLUMNS, count)
    return [base + 1 if index < extra else base for index in range(count)]


def _label(text: str) -> str:
    """Button text: Viber reads some HTML in it, so names from the database are escaped."""
    return html.escape(text, quote=False)


def _action_button(button: Button) -> dict[str, Any]:
    return {
        "ActionType": "reply",
        "ActionBody": ACTION_MARKER + button.action,
        "Text": _label(button.label),
        "Silent": True,  # the press is not shown as the resident's message (it is not their text)
    }


def _link_button(link: UrlButton) -> dict[str, Any]:
    return {"ActionType": "open-url", "ActionBody": link.url, "Text": _label(link.label)}


def _grid_row(buttons: list[dict[str, Any]]) -> ButtonRow:
    return [
        {"Columns": width, "Rows": 1, **button}
        for width, button in zip(column_widths(len(buttons)), buttons, strict=True)
    ]


def button_rows(buttons: list[list[Button]], links: Iterable[UrlButton] = ()) -> list[ButtonRow]:
    """Each Reply row as one grid row (rows over 6 buttons wrap), then one row per URL button."""
    rows: list[ButtonRow] = []
    for row in buttons:
        for start in range(0, len(row), GRID_COLUMNS):
            rows.append(_grid_row([_action_button(b) for b in row[start : start + GRID_COLUMNS]]))
    rows += [_grid_row([_link_button(link)]) for link in links]
    return rows


def button_count(rows: list[ButtonRow]) -> int:
    return sum(len(row) for row in rows)


def keyboard(rows: list[ButtonRow]) -> dict[str, Any]:
    buttons = [button for row in rows for button in row]
    return {"Type": "keyboard", "DefaultHeight": False, "InputFieldState": "regular", "Buttons": buttons}


def rich_media_messages(rows: list[ButtonRow]) -> list[Message]:
    """Buttons shown in the conversation: cards of up to 7 rows, up to 6 cards per message."""
    per_message = CARD_ROWS * CARDS_PER_MESSAGE
    messages = []
    for start in range(0, len(rows), per_message):
        chunk = rows[start : start + per_message]
        buttons = [{**button, "BgColor": ACTION_BG} for row in chunk for button in row]
        messages.append(
            {
                "type": "rich_media",
                "rich_media": {
                    "Type": "rich_media",
                    "ButtonsGroupColumns": GRID_COLUMNS,
                    "ButtonsGroupRows": min(CARD_ROWS, len(chunk)),
                    "BgColor": "#FFFFFF",
                    "Buttons": buttons,
                },
                "alt_text": " · ".join(html.unescape(button["Text"]) for button in buttons),
            }
        )
    return messages


def _reply_messages(reply: Reply, image_url: Callable[[bytes], str | None], last: bool) -> list[Message]:
    messages: list[Message] = []
    text = reply.text
    url = image_url(reply.image) if reply.image is not None else None
    if url is not None:
        caption = text if utf16_length(text) <= PICTURE_TEXT_LIMIT else ""
        messages.append({"type": "picture", "text": caption, "media": url})
        if caption:
            text = ""
    messages += [{"type": "text", "text": chunk} for chunk in split_text(text, MESSAGE_LIMIT)]
    rows = button_rows(reply.buttons, reply.links)
    if not rows:
        return messages
    if last and messages and button_count(rows) <= KEYBOARD_MAX_BUTTONS:
        messages[-1]["keyboard"] = keyboard(rows)
    else:
        messages += rich_media_messages(rows)
    return messages


def render(replies: list[Reply], image_url: Callable[[bytes], str | None]) -> list[Message]:
    """The Viber messages for a batch of Replies, in order (see the module notes on buttons)."""
    messages: list[Message] = []
    for index, reply in enumerate(replies):
        messages += _reply_messages(reply, image_url, last=index == len(replies) - 1)
    return messages


def language_buttons(locales: list[str]) -> list[list[Button]]:
    """The welcome's direct language choices, two per row (the engine's ``lang:<code>`` action)."""
    buttons = [Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in locales]
    return [buttons[index : index + 2] for index in range(0, len(buttons), 2)]


def welcome_message(replies: list[Reply], locales: list[str]) -> Message:
    """One text message with a keyboard: all Viber allows before the user subscribes."""
    text = "\n\n".join(reply.text for reply in replies if reply.text.strip())
    chunks = split_text(text, MESSAGE_LIMIT)
    rows: list[ButtonRow] = []
    for reply in replies:
        rows += button_rows(reply.buttons, reply.links)
    rows += button_rows(language_buttons(locales))
    fitting: list[ButtonRow] = []
    for row in rows:
        if button_count(fitting) + len(row) > KEYBOARD_MAX_BUTTONS:
            break
        fitting.append(row)
    message: Message = {"type": "text", "text": chunks[0] if chunks else "…"}
    if fitting:
        message["keyboard"] = keyboard(fitting)
    return message
