"""The delivery loop's senders (scheduler.sending.ChannelSender), one per messenger whose token is
set: each lives with its messenger's client (bot.channels.telegram_sender, bot.channels.viber.sender)."""

from __future__ import annotations

from bot.channels.telegram_sender import TelegramSender
from bot.channels.viber.sender import ViberSender
from domain.config import Config
from scheduler.sending import ChannelSender


def build_senders(config: Config) -> list[ChannelSender]:
    """One sender per channel whose token is set."""
    senders: list[ChannelSender] = []
    if config.telegram.token:
        senders.append(
            TelegramSender(
                config.telegram.token, config.telegram.api_base_url, config.bot.delivery_rate_per_second
            )
        )
    if config.viber.token:
        senders.append(
            ViberSender(config.viber.token, config.viber.api_base_url, config.viber.name, config.viber.avatar)
        )
    return senders
