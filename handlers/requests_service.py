"""The request service every front end calls (the resident flow, the operators' group, a web
console): file a request, add a message, take, answer, close, reopen, list.

Plain functions over a unit of work, the config and the moment; the caller commits. Whatever
must reach somebody — a request posted into the operators' Telegram group, an answer relayed to
the resident in their own messenger — is queued in the outbox in the same transaction, at the
emergency priority (quiet hours do not hold answers back), so it survives a crash and the
messengers' rate limits apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain import request_texts as texts
from domain.audit import AuditAction
from domain.config import Config, ProviderConfig, RequestKind
from domain.i18n import Translator, translator
from domain.metrics import REQUEST_FIRST_ANSWER, REQUESTS
from domain.requests import ANSWERED, CLOSED, NEW, REOPEN_DAYS, TAKEN
from domain.verification import mask_holder
from storage.models import Account, Chat, ServiceRequest
from storage.repositories.requests import answer_key
from storage.unit_of_work import UnitOfWork

GROUP_CHANNEL = "telegram"


class RequestClosed(Exception):
    """The request is closed: nothing more can be added until the resident reopens it."""


class TooLateToReopen(Exception):
    """The request was closed more than REOPEN_DAYS ago."""


@dataclass(frozen=True)
class Filing:
    """What the resident asks: the kind, the account, the text (or the new contact) and photos."""

    provider: ProviderConfig
    kind: RequestKind
    account: Account
    text: str
    media: tuple[str, ...] = ()
    contact: str = ""


def _provider(config: Config, provider_id: str) -> ProviderConfig | None:
    try:
        return config.provider(provider_id)
    except KeyError:
        return None


def _operators(config: Config) -> Translator:
    return translator(config.bot.default_locale)


async def _to_group(uow: UnitOfWork, config: Config, text: str, now: datetime) -> None:
    """Queue ``text`` for the operators' group (nothing when none is configured)."""
    if config.telegram.operators_chat_id:
        await uow.requests.queue_for(GROUP_CHANNEL, str(config.telegram.operators_chat_id), text, now)


async def _status(uow: UnitOfWork, request: ServiceRequest, status: str, actor: str, now: datetime) -> None:
    if request.status != status:
        await uow.requests.set_status(request, status, actor, now)
        REQUESTS.labels(kind=request.kind, status=status).inc()


def request_title(tr: Translator, config: Config, request: ServiceRequest) -> str:
    return texts.request_title(tr, config, request.id, request.provider_id, request.kind)


def _post_text(config: Config, request: ServiceRequest, filing: Filing, phone: str) -> str:
    tr = _operators(config)
    lines = [
        request_title(tr, config, request),
        tr._("Company: {company}", company=filing.provider.localized_name(tr.locale)),
        tr._("Account: {number}", number=filing.account.number),
        tr._("Address: {address}", address=filing.account.address),
        tr._("Holder: {holder}", holder=mask_holder(filing.account.holder)),
    ]
    if phone:
        lines.append(tr._("Phone: {phone}", phone=phone))
    if filing.media:
        lines.append(
            tr.n_(
                "{count} photo attached",
                "{count} photos attached",
                len(filing.media),
            )
        )
    lines += [
        "",
        filing.text,
        "",
        tr._("Reply to this message to answer the resident; reply /take or /close to take or close it."),
    ]
    return "\n".join(lines)


async def file_request(
    uow: UnitOfWork, config: Config, chat: Chat, filing: Filing, now: datetime
) -> ServiceRequest:
    """Store the request with its first message and post it into the operators' group."""
    request = await uow.requests.create(
        chat_id=chat.id,
        account_id=filing.account.id,
        provider_id=filing.provider.id,
        kind=filing.kind.id,
        contact=filing.contact,
        answer_hours=filing.kind.answer_hours,
        text=filing.text,
        media=filing.media,
        now=now,
    )
    REQUESTS.labels(kind=request.kind, status=NEW).inc()
    phone = filing.contact if filing.contact and "@" not in filing.contact else ""
    await _to_group(uow, config, _post_text(config, request, filing, phone), now)
    return request


async def add_resident_message(
    uow: UnitOfWork, config: Config, request: ServiceRequest, text: str, media: Sequence[str], now: datetime
) -> None:
    """The resident writes to their open request: stored and posted under it in the group."""
    if request.status == CLOSED:
        raise RequestClosed(request.id)
    await uow.requests.add_message(request.id, "in", "", text, media, now)
    tr = _operators(config)
    lines = [request_title(tr, config, request), tr._("The resident writes:"), text]
    if media:
        lines.append(tr.n_("{count} photo attached", "{count} photos attached", len(media)))
    await _to_group(uow, config, "\n".join(lines), now)


async def take(uow: UnitOfWork, request: ServiceRequest, operator: str, now: datetime) -> None:
    if request.status == CLOSED:
        raise RequestClosed(request.id)
    request.taken_by = operator
    await _status(uow, request, TAKEN, operator, now)
    await uow.audit.record(operator, AuditAction.REQUEST_TAKEN, now, subject=f"request #{request.id}")


async def answer(
    uow: UnitOfWork, config: Config, request: ServiceRequest, operator: str, text: str, now: datetime
) -> bool:
    """Relay an operator's answer to the resident's own chat; False when it cannot reach them
    (they blocked the bot or the chat is gone): the message is kept, marked undelivered."""
    if request.status == CLOSED:
        raise RequestClosed(request.id)
    chat = await uow.requests.chat_of(request)
    reachable = chat is not None and chat.active
    message = await uow.requests.add_message(request.id, "out", operator, text, (), now, delivered=reachable)
    if not request.taken_by:
        request.taken_by = operator
    if request.first_answer_at is None:
        request.first_answer_at = now
        REQUEST_FIRST_ANSWER.labels(kind=request.kind).observe((now - request.created_at).total_seconds())
    await _status(uow, request, ANSWERED, operator, now)
    subject = f"request #{request.id}"
    await uow.audit.record(operator, AuditAction.REQUEST_ANSWERED, now, subject, {"delivered": reachable})
    if not reachable or chat is None:
        return False
    tr = translator(chat.locale or config.bot.default_locale)
    body = "\n".join(
        [
            tr._("Answer to your request #{number}:", number=request.id),
            text,
            "",
            tr._("To write back or to mark it solved, open My requests (/requests)."),
        ]
    )
    await uow.requests.queue(chat.id, body, now, dedup_key=answer_key(message.id))
    return True


async def close(uow: UnitOfWork, config: Config, request: ServiceRequest, actor: str, now: datetime) -> None:
    """Close the request; an operator's closing is told to the resident, a resident's to the group."""
    if request.status == CLOSED:
        return
    await _status(uow, request, CLOSED, actor, now)
    if actor:  # an operator
        await uow.audit.record(actor, AuditAction.REQUEST_CLOSED, now, subject=f"request #{request.id}")
        chat = await uow.requests.chat_of(request)
        if chat is not None and chat.active:
            tr = translator(chat.locale or config.bot.default_locale)
            text = tr._(
                "Your request #{number} is closed. If the problem is not solved, reopen it within "
                "{days} days in My requests (/requests).",
                number=request.id,
                days=REOPEN_DAYS,
            )
            await uow.requests.queue(chat.id, text, now)
        return
    tr = _operators(config)
    await _to_group(
        uow,
        config,
        "\n".join([request_title(tr, config, request), tr._("The resident marked it solved; closed.")]),
        now,
    )


def can_reopen(request: ServiceRequest, now: datetime) -> bool:
    return (
        request.status == CLOSED
        and request.closed_at is not None
        and now - request.closed_at <= timedelta(days=REOPEN_DAYS)
    )


async def reopen(uow: UnitOfWork, config: Config, request: ServiceRequest, now: datetime) -> None:
    """The resident reopens their closed request (within REOPEN_DAYS); the group is told."""
    if not can_reopen(request, now):
        raise TooLateToReopen(request.id)
    await _status(uow, request, TAKEN if request.taken_by else NEW, "", now)
    tr = _operators(config)
    await _to_group(
        uow, config, "\n".join([request_title(tr, config, request), tr._("The resident reopened it.")]), now
    )


async def requests_of(uow: UnitOfWork, chat: Chat) -> list[ServiceRequest]:
    return await uow.requests.list_of_chat(chat.id)
