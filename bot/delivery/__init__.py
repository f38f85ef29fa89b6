"""The delivery engine: a crash-safe outbox sent through a channel at the rate limit.

Rows are written to ``deliveries`` (``storage.outbox.enqueue``) in the transaction that decides
to send them; a :class:`~bot.delivery.worker.DeliveryWorker` claims due rows with a lease,
sends them through a :class:`~bot.delivery.channel.Sender` under a strict sliding-window
:class:`~bot.delivery.ratelimit.RateLimiter`, and records each outcome.  See
``storage.models.DeliveryStatus`` for the lifecycle.
"""
