"""Console channel: a chat with the bot in the terminal; buttons become numbered choices."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from domain.i18n import translator
from handlers.engine import Engine
from handlers.types import Button, Incoming, Reply

QUIT_WORDS = {"/quit", "/exit", "/q"}


class ConsoleChannel:
    """Reads lines from ``stdin``; a number picks one of the last message's buttons, anything else is text."""

    name = "console"

    def __init__(
        self,
        engine: Engine,
        images_dir: Path,
        chat_id: str = "demo",
        language: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.engine = engine
        self.images_dir = images_dir
        self.chat_id = chat_id
        self.language = language
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._choices: list[Button] = []
        self._images = 0

    def _print(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def render(self, replies: list[Reply]) -> None:
        choices: list[Button] = []
        for reply in replies:
            self._print()
            for line in reply.text.splitlines() or [""]:
                self._print(f"  {line}")
            if reply.image is not None:
                self._images += 1
                self.images_dir.mkdir(parents=True, exist_ok=True)
                path = self.images_dir / (reply.image_name or f"image-{self._images}.png")
                path.write_bytes(reply.image)
                self._print(f"  [image] {path}")
            for link in reply.links:
                self._print(f"  [link] {link.label}: {link.url}")
            for row in reply.buttons:
                choices.extend(row)
        if choices:
            self._choices = choices
            self._print()
            for index, button in enumerate(choices, start=1):
                self._print(f"  [{index}] {button.label}")

    def _to_incoming(self, line: str) -> Incoming:
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(self._choices):
            action = self._choices[int(text) - 1].action
            return Incoming(
                self.name, self.chat_id, self.chat_id, self.language, kind="action", action=action
            )
        return Incoming(
            self.name, self.chat_id, self.chat_id, self.language, kind="text", text=line.rstrip("\n")
        )

    async def handle_line(self, line: str) -> None:
        self.render(await self.engine.handle(self._to_incoming(line)))

    async def run(self) -> None:
        """Greets the resident, then answers every line until /quit or end of input."""
        hint = translator(self.language or self.engine.config.bot.default_locale)._(
            "Type a number to press a button, or type text. /quit ends the chat."
        )
        self._print(hint)
        await self.handle_line("/start")
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line or line.strip().lower() in QUIT_WORDS:
                self._print()
                return
            if line.strip():
                await self.handle_line(line)
