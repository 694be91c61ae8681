"""Generated images for Viber, served by the webhook server at unguessable, expiring URLs.

Viber's picture messages carry a public URL, not the bytes: Viber's servers fetch the image when
the message is sent. The store keeps each PNG in memory under a random token
(``secrets.token_urlsafe(24)``: 192 bits, 32 URL-safe characters) for ``ttl`` seconds; after that,
or after it was pushed out by newer images (at most ``max_items`` images and ``max_bytes`` bytes,
least recently stored first), the URL answers 404. Memory stays bounded however many images are
made. The store lives in the process that runs the webhook server: behind a load balancer with
several bot processes, route ``.../media/`` to the process that sent the message (or run one).
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_TTL = 3600.0  # seconds an image URL stays valid
DEFAULT_MAX_ITEMS = 512
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class _Image:
    data: bytes
    expires: float


class MediaStore:
    """Images by random token; expired or evicted ones are gone (``get`` returns None)."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.clock = clock
        self._images: OrderedDict[str, _Image] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._images)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its token (the file name without the extension)."""
        if len(data) > self.max_bytes:
            raise ValueError(f"image of {len(data)} bytes is larger than the store ({self.max_bytes} bytes)")
        self._expire()
        token = secrets.token_urlsafe(24)
        self._images[token] = _Image(data, self.clock() + self.ttl)
        self._bytes += len(data)
        while len(self._images) > self.max_items or self._bytes > self.max_bytes:
            self._drop_oldest()
        return token

    def get(self, token: str) -> bytes | None:
        """The image stored under ``token``, or None (unknown, malformed, expired or evicted)."""
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        image = self._images.get(token)
        if image is None:
            return None
        if image.expires <= self.clock():
            self._remove(token)
            return None
        return image.data

    def _expire(self) -> None:
        """Drop expired images; they are in insertion order, which is also expiry order."""
        now = self.clock()
        while self._images:
            token, image = next(iter(self._images.items()))
            if image.expires > now:
                return
            self._remove(token)

    def _drop_oldest(self) -> None:
        token = next(iter(self._images))
        self._remove(token)

    def _remove(self, token: str) -> None:
        image = self._images.pop(token)
        self._bytes -= len(image.data)
