"""Hybrid isolation: session-host processes forked after prewarm, each running sessions as tasks."""
