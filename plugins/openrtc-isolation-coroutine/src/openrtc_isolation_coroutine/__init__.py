"""Coroutine isolation: every session is an asyncio task on the worker's own event loop."""
