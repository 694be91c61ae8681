"""Settings: which reminders the resident receives — reading window, payment due, announcements.

All are on by default (a missing key in ``chats.notifications`` means on); each button switches one
kind, and one tap turns them all off (or all on again). The scheduled jobs read the same keys
(storage/repositories/reminders.py). Operators' broadcasts do not depend on these choices.
"""

from __future__ import annotations

from domain.i18n import N_
from handlers.context import Context
from handlers.routing import Router, action_argument
from handlers.types import Button, Reply
from storage.repositories.reminders import PREF_NOTICES, PREF_PAYMENT, PREF_WINDOW, PREFERENCES, wants

router = Router()

SETTINGS_LABEL = N_("Settings")  # the main menu's button to this screen (action "set")
ON, OFF = "🔔", "🔕"

KIND_LABELS: dict[str, str] = {
    PREF_WINDOW: N_("Meter reading reminders"),
    PREF_PAYMENT: N_("Payment reminders"),
    PREF_NOTICES: N_("Announcements from the company"),
}


def preferences(ctx: Context) -> dict[str, bool]:
    return {kind: wants(ctx.chat.notifications, kind) for kind in PREFERENCES}


def _store(ctx: Context, choices: dict[str, bool]) -> None:
    ctx.chat.notifications = {**(ctx.chat.notifications or {}), **choices}  # a new dict: marked dirty


def _apply(ctx: Context, argument: str) -> str:
    """Change the choices as the button says; returns the confirmation ('' when nothing changed)."""
    current = preferences(ctx)
    kind = argument.removeprefix("t:")
    if argument.startswith("t:") and kind in PREFERENCES:
        _store(ctx, {kind: not current[kind]})
        return ctx._("Saved.")
    if argument in ("off", "on"):
        _store(ctx, dict.fromkeys(PREFERENCES, argument == "on"))
        return ctx._("All reminders are on.") if argument == "on" else ctx._("All reminders are off.")
    return ""


def settings_reply(ctx: Context, note: str = "") -> Reply:
    choices = preferences(ctx)
    lines = [note] if note else []
    lines.append(ctx._("Reminders you receive. Tap one to turn it on or off."))
    lines += [f"{ON if choices[kind] else OFF} {ctx._(KIND_LABELS[kind])}" for kind in PREFERENCES]
    buttons = [
        [Button(f"{ON if choices[kind] else OFF} {ctx._(KIND_LABELS[kind])}", f"set:t:{kind}")]
        for kind in PREFERENCES
    ]
    if any(choices.values()):
        buttons.append([Button(ctx._("Turn all off"), "set:off")])
    else:
        buttons.append([Button(ctx._("Turn all on"), "set:on")])
    buttons.append([Button(ctx._("Menu"), "menu")])
    return Reply("\n".join(lines), buttons=buttons)


@router.command("/settings")
@router.action("set")
async def show_settings(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    note = _apply(ctx, action_argument(ctx)) if ctx.incoming.kind == "action" else ""
    return [settings_reply(ctx, note)]
