"""Typed conversation state: each multi-step flow keeps one versioned model between updates.

The chat row keeps its two columns: ``state`` is the step's name (``rd:value``, ``bind:fact``,
``op:kind``), which the engine routes typed text by, and ``state_data`` is the model's JSON with
its schema version under ``v``. A flow owns the states named with its prefix (``rd:``), so a stored
state that belongs to a flow but no longer parses (another version, a missing field, a wrong type,
a step that no longer exists) raises ExpiredConversation, and the engine takes the resident back
to the main menu with a polite word. Bump a flow's ``VERSION`` whenever its fields change meaning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

VERSION_KEY = "v"


class ExpiredConversation(Exception):
    """The chat's stored state belongs to a flow but cannot be read back."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(f"state {state!r}: {reason}")
        self.state = state


class FlowState(BaseModel):
    """The base of every flow's state: ``FLOW`` is the prefix of its step names, ``VERSION`` its schema.

    A subclass with a ``step`` field (a StrEnum of full step names) is stored under that step's
    name; one without it is a memo kept while the chat is idle (``state`` empty), which never
    expires: when it does not parse there simply is none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    FLOW: ClassVar[str]
    VERSION: ClassVar[int]

    @classmethod
    def _has_step(cls) -> bool:
        return "step" in cls.model_fields

    @classmethod
    def owns(cls, state: str) -> bool:
        """Whether a chat in ``state`` is in this flow."""
        if not cls._has_step():
            return state == ""
        flow, colon, _ = state.partition(":")
        return bool(colon) and flow == cls.FLOW

    @classmethod
    def parse(cls, state: str, data: Mapping[str, Any] | None) -> Self | None:
        """The state stored as ``state`` / ``data``; None when the chat is not in this flow.

        Raises ExpiredConversation when it is in this flow but the data cannot be read back.
        """
        if not cls.owns(state):
            return None
        try:
            return cls._parse(state, dict(data or {}))
        except (ValidationError, ValueError, TypeError) as error:
            if not cls._has_step():
                return None
            raise ExpiredConversation(state, str(error).splitlines()[0]) from None

    @classmethod
    def _parse(cls, state: str, data: dict[str, Any]) -> Self:
        version = data.pop(VERSION_KEY, None)
        if version != cls.VERSION:
            raise ValueError(f"version {version!r}, expected {cls.VERSION}")
        if cls._has_step():
            data["step"] = state
        return cls.model_validate_json(json.dumps(data))

    def stored(self) -> tuple[str, dict[str, Any]]:
        """The two column values: the step's name and the JSON with the version."""
        data = self.model_dump(mode="json", exclude_none=True)
        state = str(data.pop("step", ""))
        return state, {VERSION_KEY: self.VERSION, **data}
