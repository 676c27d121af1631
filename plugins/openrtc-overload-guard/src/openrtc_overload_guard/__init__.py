"""Overload guard: refuse new calls before the worker's event loop falls behind."""
