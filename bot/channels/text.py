"""Splitting long texts for messengers that cap a message's length in UTF-16 code units."""

from __future__ import annotations


def utf16_length(text: str) -> int:
    """Length as Telegram and Viber count it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(line: str, limit: int) -> tuple[str, str]:
    """Split an over-long line: the head fits ``limit``, preferably ending after a space."""
    end = 0
    size = 0
    while end < len(line):
        size += 2 if ord(line[end]) > 0xFFFF else 1
        if size > limit:
            break
        end += 1
    space = line.rfind(" ", 0, end)
    if space > end // 2:
        end = space + 1
    return line[:end], line[end:]


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` UTF-16 units, cut at line ends where possible; blank chunks dropped."""
    if utf16_length(text) <= limit:
        return [text] if text.strip() else []
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while utf16_length(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            head, line = _cut(line, limit)
            chunks.append(head)
        if current and utf16_length(current) + utf16_length(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current:
        chunks.append(current)
    return [chunk.rstrip("\r\n") for chunk in chunks if chunk.strip()]
