"""The operators' Telegram group: a reply to the bot's post about a request is relayed to the
resident; /take and /close in a reply take or close it. Only ``[telegram] operators`` count:
anyone else in the group is ignored (and logged)."""

from __future__ import annotations

import logging

from domain.i18n import translator
from domain.masking import mask_id
from domain.requests import CLOSED, request_number
from handlers import requests_service as service
from handlers.context import Context
from handlers.types import Reply

log = logging.getLogger(__name__)


def in_operators_group(ctx: Context) -> bool:
    group = ctx.config.telegram.operators_chat_id
    return (
        bool(group) and ctx.incoming.channel == service.GROUP_CHANNEL and ctx.incoming.chat_id == str(group)
    )


def _operator_name(ctx: Context) -> str:
    return ctx.incoming.user_name or ctx.incoming.user_id


async def group_update(ctx: Context) -> list[Reply]:
    """Whatever happened in the operators' group; answered in the bot's language, like the posts."""
    incoming = ctx.incoming
    ctx.clear_state()
    ctx.tr = translator(ctx.config.bot.default_locale)
    if not ctx.is_operator:
        log.info("operators' group: user %s is not an operator; ignored", mask_id(incoming.user_id))
        return []
    if incoming.kind not in ("text", "media"):
        return []
    number = request_number(incoming.reply_to) if incoming.reply_to else None
    if number is None:
        if incoming.reply_to or incoming.text.strip().startswith("/"):
            return [
                Reply(
                    ctx._(
                        "To answer a resident, reply to the bot's message about their request "
                        "(it starts with “Request #”)."
                    )
                )
            ]
        return []  # the operators talking among themselves
    request = await ctx.uow.requests.get(number, lock=True)
    if request is None:
        return [Reply(ctx._("There is no request #{number}.", number=number))]
    command = incoming.text.strip().split("@")[0].lower()
    operator = _operator_name(ctx)
    if command == "/close":
        await service.close(ctx.uow, ctx.config, request, operator, ctx.now)
        return [Reply(ctx._("Request #{number} is closed.", number=number))]
    if request.status == CLOSED:
        return [Reply(ctx._("Request #{number} is closed; the resident can reopen it.", number=number))]
    if command == "/take":
        await service.take(ctx.uow, request, operator, ctx.now)
        return [Reply(ctx._("Request #{number} is taken by {operator}.", number=number, operator=operator))]
    if incoming.kind == "media" or not incoming.text.strip():
        return [Reply(ctx._("Only text is relayed to residents; please type the answer."))]
    if len(incoming.text.strip()) > 4000:
        return [Reply(ctx._("The answer is too long for one message; please shorten it."))]
    delivered = await service.answer(ctx.uow, ctx.config, request, operator, incoming.text.strip(), ctx.now)
    if not delivered:
        return [
            Reply(
                ctx._(
                    "Not delivered: the resident of request #{number} has blocked the bot or left.",
                    number=number,
                )
            )
        ]
    return [Reply(ctx._("Sent to the resident of request #{number}.", number=number))]
