"""The fraud warning for residents who write about paying through an "agent" at a discount.

Text the bot did not otherwise understand is checked for the words fraudsters' offers use, in the
four languages: 代缴 / 代交 / 代付 / 打折 (打八折) / 折扣, знижка / посередник, скидка / посредник, агент,
discount / agent. Cyrillic and Latin words match at a word start, in any inflection and case
("Знижку", "агента", "Discounted"), never inside another word ("reagent"); Chinese words match
anywhere (Chinese has no spaces). Full-width letters are folded first (NFKC).

The warning is the providers' ``fraud_warning`` notice: the catalog text on behalf of the providers
the chat is bound to (all providers when none), with their hotlines, or a provider's own text for
the chat's language when its config notice with ``text_key = "fraud_warning"`` has one.
"""

from __future__ import annotations

import re
import unicodedata

from domain.config import ProviderConfig
from domain.notice_texts import catalog_notice_text
from handlers.context import Context
from handlers.types import Reply

FRAUD_TEXT_KEY = "fraud_warning"

_CHINESE = ("代缴", "代交", "代付", r"打[一二三四五六七八九\d.]{0,3}折", "折扣")  # 打折, 打八折, 打9.5折
_WORD_STARTS = ("знижк", "знижок", "скидк", "скидок", "агент", "посередник", "посредник", "discount", "agent")
KEYWORDS = re.compile(
    "|".join(_CHINESE) + r"|(?<!\w)(?:" + "|".join(_WORD_STARTS) + ")",
    re.IGNORECASE,
)


def mentions_discount_agent(text: str) -> bool:
    """Whether ``text`` talks about agents or discounts (see the module docstring)."""
    return KEYWORDS.search(unicodedata.normalize("NFKC", text)) is not None


def _own_text(provider: ProviderConfig, locale: str) -> str | None:
    """The provider's configured fraud warning in ``locale``, if it has one."""
    for notice in provider.notices:
        if notice.text_key == FRAUD_TEXT_KEY and notice.text.get(locale):
            return notice.text[locale].replace("{provider}", provider.localized_name(locale))
    return None


def fraud_warning(providers: list[ProviderConfig], locale: str) -> str:
    """The warning on behalf of ``providers`` in ``locale``."""
    own = [(provider, _own_text(provider, locale)) for provider in providers]
    paragraphs = [text for _, text in own if text]
    generic = [provider for provider, text in own if not text]
    if generic:
        paragraphs.append(catalog_notice_text(FRAUD_TEXT_KEY, locale, generic))
    return "\n\n".join(paragraphs)


async def fraud_warning_if_mentioned(ctx: Context) -> list[Reply] | None:
    """[the warning] when the resident's text mentions a discount or an agent, else None.

    The reply has no buttons: the caller (handlers.menu.not_understood) adds its menu.
    """
    if ctx.incoming.kind != "text" or not mentions_discount_agent(ctx.incoming.text):
        return None
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    bound = {account.provider_id for account in accounts}
    providers = [p for p in ctx.config.providers if p.id in bound] or list(ctx.config.providers)
    return [Reply(fraud_warning(providers, ctx.tr.locale))]
