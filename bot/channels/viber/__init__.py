"""The Viber channel, one concern per module: ``webhook`` (the aiohttp server, signature check,
dedupe through the inbox), ``callbacks`` (reading Viber's callbacks), ``channel`` (callbacks to
the engine and Replies back), ``rendering`` (Replies as Viber messages and keyboards), ``client``
(the one REST client with the classification of Viber's statuses, shared with delivery),
``sender`` (the delivery loop's sender) and ``media`` (the images picture messages point to).

Only this package knows Viber's wire format; handlers/ sees Incoming and returns Reply. The names
the composition root and the CLI start the channel with are re-exported here.
"""

from bot.channels.viber.channel import ViberChannel
from bot.channels.viber.client import ViberAPIError, describe, register_webhook

__all__ = ["ViberAPIError", "ViberChannel", "describe", "register_webhook"]
