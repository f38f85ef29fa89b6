"""Zalo as a chat channel: the Zalo Bot Platform client and the outbox sender."""
