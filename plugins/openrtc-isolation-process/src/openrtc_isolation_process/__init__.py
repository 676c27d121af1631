"""Process isolation: every session in its own OS process, livekit-agents' own executor."""
