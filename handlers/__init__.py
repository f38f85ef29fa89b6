"""The chat-facing routers.  Thin: parse the update, check the role, call a service, render."""

from __future__ import annotations

from aiogram import Router

from handlers import admin, campaigns, fallback, member, notice, officer, reachability, survey


def build_router() -> Router:
    """All routers, fresh, in order: commands first, free text after, the fallback last."""
    root = Router(name="root")
    for module in (reachability, member, notice, campaigns, officer, admin, survey, fallback):
        root.include_router(module.build())
    return root
