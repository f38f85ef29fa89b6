"""The ``congdoan`` command line (``python -m bot``, the ``congdoan`` script: ``bot.cli:main``).

- :mod:`bot.cli.root`: the root group ``app``, its top-level commands (serve, stats, report,
  demo) and ``main``; it gathers the sub-apps below and ``deliver``
  (:mod:`bot.delivery.cli`).
- :mod:`bot.cli.db`, :mod:`bot.cli.roster`, :mod:`bot.cli.notices`, :mod:`bot.cli.campaigns`,
  :mod:`bot.cli.inbox`: one sub-app each.
- :mod:`bot.cli.common`: what they share (``settings_or_exit``, ``fail``).

The sub-apps import only :mod:`bot.cli.common` and :mod:`bot.cli_errors`, never the root, so
each can be imported first and alone.  :mod:`bot.cli_errors` (the one-line errors, the
``OperatorGroup``) stays outside this package: :mod:`bot.delivery.cli`, which the root
imports, uses it too, and importing it from here would run this ``__init__`` (and so the root)
from inside :mod:`bot.delivery.cli`: a cycle.
"""

from bot.cli.root import app, main

__all__ = ["app", "main"]
