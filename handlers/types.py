"""What channels hand to the engine (Incoming) and what the engine hands back (Reply)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_ACTION_BYTES = 64  # Telegram callback_data and Viber ActionBody limit we design for

InputKind = Literal["text", "action", "media", "other"]


@dataclass(frozen=True)
class Incoming:
    """One thing a resident did: typed text, pressed a button, or sent media.

    ``media`` holds the references of the photos in it (a Telegram file id, a Viber picture's
    URL), empty for other media (stickers, files); ``text`` is then the photo's caption. In the
    operators' group ``reply_to`` is the text of the bot's message this one replies to, and
    ``user_name`` the writer's name.
    """

    channel: str
    chat_id: str
    user_id: str = ""
    language: str | None = None
    kind: InputKind = "text"
    text: str = ""
    action: str = ""
    media: tuple[str, ...] = ()
    reply_to: str = ""
    user_name: str = ""


@dataclass(frozen=True)
class Button:
    label: str
    action: str

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"button action longer than {MAX_ACTION_BYTES} bytes: {self.action!r}")


@dataclass(frozen=True)
class UrlButton:
    label: str
    url: str


@dataclass
class Reply:
    """A localized message; buttons are rows of actions, links open URLs, image is PNG bytes.

    A handler whose image needs no database (a QR code, a chart of data already read) passes
    ``draw`` instead of ``image``: the engine draws it after the transaction committed, so the
    CPU work does not hold the database (SQLite's write lock) meanwhile. Channels see ``image``.
    """

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    links: list[UrlButton] = field(default_factory=list)
    image: bytes | None = None
    image_name: str = ""
    draw: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    def drawn(self) -> Reply:
        """This reply with its deferred image drawn into ``image``."""
        if self.draw is not None:
            self.image, self.draw = self.draw(), None
        return self

    def to_record(self) -> dict[str, Any]:
        """What the inbox keeps until the reply is sent: its text and buttons. An image is not kept
        (it is drawn again for a live reply); a reply sent again after a crash goes without it."""
        return {
            "text": self.text,
            "buttons": [[[button.label, button.action] for button in row] for row in self.buttons],
            "links": [[link.label, link.url] for link in self.links],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Reply:
        return cls(
            text=str(record.get("text", "")),
            buttons=[[Button(label, action) for label, action in row] for row in record.get("buttons", [])],
            links=[UrlButton(label, url) for label, url in record.get("links", [])],
        )
