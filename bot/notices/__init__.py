"""Notices (tuyên truyền): audiences, officer-written templates in a sandbox, drafts, preview,
broadcast through the delivery outbox, live counts and acknowledgements.

- :mod:`bot.notices.audience` — :class:`Audience` (JSON on the notice) and the CLI syntax;
- :mod:`bot.notices.render` — the sandboxed template renderer and the Telegram HTML check;
- :mod:`bot.notices.service` — what handlers and the CLI call (no aiogram);
- :mod:`storage.notices` — the SQL (audience query, counts, acknowledgements).
"""
