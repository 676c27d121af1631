"""Session defaults that cost less per live call than livekit-agents' own, each one a setting."""
