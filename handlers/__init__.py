"""The chat-facing routers.  Thin: parse the update, check the role, call a service, render."""

from __future__ import annotations

from aiogram import Router

from handlers import admin, campaigns, fallback, member, notice, officer, reachability, survey
from handlers import erasure as erasure_router
from handlers import rights as rights_router


def build_router() -> Router:
    """All routers, fresh, in order: commands first, free text after, the fallback last."""
    root = Router(name="root")
    # erasure before member: it takes the consent presses of a declined or withdrawn chat.
    # rights before member too: a member typing a corrected value (or /cancel) is its.
    modules = (reachability, erasure_router, rights_router, member, notice, campaigns, officer)
    for module in (*modules, admin, survey, fallback):
        root.include_router(module.build())
    return root
