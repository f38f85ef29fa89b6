"""An outbox message as Zalo shows it: plain text, what the buttons would do said in words.

The outbox holds each message once, in the bot's markup (Telegram's HTML subset), with flags
for its buttons; each channel's sender renders it.  On Zalo the "Đã nắm" button becomes a line
asking to type "đã nắm" (read back by :mod:`bot.channels.zalo.inbound`), "Trả lời ngay" a line
naming /surveys, and a notice's attachment (a Telegram file) a line saying where to see it: the
Zalo Bot API takes a photo by public URL only and no documents.  The text is cut to Zalo's 2000
characters per message, in the recipient's locale.
"""

from __future__ import annotations

from bot.channels.zalo.sender import Render, ZaloMessage
from bot.channels.zalo.text import plain_text, split
from bot.delivery.channel import Outbound
from bot.texts import render


def _public_url(ref: str | None) -> str | None:
    return ref if ref and ref.startswith("https://") else None


def render_for(default_locale: str) -> Render:
    """The render function of :class:`ZaloSender`, for recipients whose chat has no locale."""

    def render_outbound(message: Outbound) -> ZaloMessage:
        locale = message.locale or default_locale
        photo = _public_url(message.attachment_ref) if message.attachment_kind == "photo" else None
        footer = render(
            "zalo/outbox.txt",
            locale,
            attachment=message.attachment_kind is not None and photo is None,
            ack=message.ack_button,
            survey=message.run_id is not None and not message.ack_button,
        )
        body = plain_text(message.text)
        text = "\n\n".join(part for part in (body, plain_text(footer)) if part)
        return ZaloMessage(tuple(split(text)), photo)

    return render_outbound
