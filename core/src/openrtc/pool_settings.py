"""The settings the kernel itself declares; plugins declare theirs through ``openrtc_settings``."""

from __future__ import annotations

from openrtc.settings import Setting

DEFAULT_STT = Setting(
    "default_stt",
    "provider",
    None,
    "STT for agents without their own, e.g. 'deepgram/nova-3' (the constructor also takes an "
    "instance).",
)
DEFAULT_LLM = Setting(
    "default_llm",
    "provider",
    None,
    "LLM for agents without their own, e.g. 'openai/gpt-4.1-mini' (the constructor also takes "
    "an instance).",
)
DEFAULT_TTS = Setting(
    "default_tts",
    "provider",
    None,
    "TTS for agents without their own, e.g. 'cartesia/sonic-3' (the constructor also takes an "
    "instance).",
)
DEFAULT_GREETING = Setting(
    "default_greeting",
    "str",
    None,
    "Instructions for the first reply after the room connects, for agents without their own; "
    "empty means none.",
)

AGENT_DEFAULTS = (DEFAULT_STT, DEFAULT_LLM, DEFAULT_TTS, DEFAULT_GREETING)
"""What an agent registered without its own STT, LLM, TTS or greeting gets."""

ISOLATION = Setting(
    "isolation",
    "str",
    "coroutine",
    "How sessions run: an installed isolation mode such as 'coroutine' or 'process'.",
)
MAX_CONCURRENT_SESSIONS = Setting(
    "max_concurrent_sessions",
    "int",
    50,
    "Sessions one worker runs at once; LiveKit sees the worker as full at this many.",
    minimum=1,
)
CONSECUTIVE_FAILURE_LIMIT = Setting(
    "consecutive_failure_limit",
    "int",
    5,
    "Failed sessions in a row after which the worker drains and exits (0 disables).",
    minimum=0,
)
DRAIN_TIMEOUT = Setting(
    "drain_timeout",
    "float",
    30.0,
    "Seconds live sessions get to finish on drain before they are cancelled.",
    minimum=0,
)
SESSION_CLOSE_ENDS_JOB = Setting(
    "session_close_ends_job",
    "bool",
    True,
    "End the job as soon as its agent session closes (the caller hung up, or the agent "
    "ended the call): its slot, the reported load and the active count free at once. Off: "
    "livekit's own behaviour, the job lasts until the server deletes the emptied room "
    "(about 20 s later, its departure_timeout).",
)
REPLY_TIMEOUT = Setting(
    "reply_timeout",
    "float",
    45.0,
    "Seconds an agent may prepare a reply (LLM, tools, TTS up to its first audio) before "
    "OpenRTC drops it so the caller can speak again: a provider or tool that never answers "
    "would otherwise leave the call silent. Above livekit's own request timeouts and "
    "retries; raise it above your slowest tool. 0: no limit (livekit's behaviour).",
    minimum=0,
)
TRANSCRIPT_TIMEOUT = Setting(
    "transcript_timeout",
    "float",
    30.0,
    "Seconds the caller's transcript may take after they stop speaking before OpenRTC "
    "restarts the agent's STT: an STT that never answers would otherwise leave the caller "
    "unheard for the rest of the call (livekit waits on it for ever). 0: no limit.",
    minimum=0,
)
REGISTRATION_TIMEOUT = Setting(
    "registration_timeout",
    "float",
    60.0,
    "Seconds a starting worker retries reaching LiveKit before it exits 1 naming the URL "
    "(0: retry forever). 60 covers a server started alongside it (docker compose up), yet a "
    "wrong URL fails the deploy within a minute. Counted from the first attempt; a worker "
    "that has registered reconnects on its own.",
    minimum=0,
)
ROUTERS = Setting(
    "routers",
    "list",
    (),
    "Router chain in order, e.g. 'metadata,prefix,fallback'; empty means all by priority.",
)
DISPATCH_NAME = Setting(
    "dispatch_name",
    "str",
    "",
    "Name the worker registers with LiveKit (its agent_name) for explicit dispatch; "
    "empty means automatic dispatch to every new room.",
)
METRICS_INTERVAL = Setting(
    "metrics_interval",
    "float",
    5.0,
    "Seconds between runtime snapshots sent to metrics exporters (one more is sent at exit).",
    minimum=0.1,
)
METRICS_JSON_FILE = Setting(
    "metrics_json_file",
    "str",
    "",
    "Rewrite this JSON file atomically with the latest runtime snapshot every "
    "metrics_interval and at exit (empty: off).",
)
DISABLE_PLUGINS = Setting(
    "disable_plugins",
    "list",
    (),
    "Plugins (entry-point names) to block; blocked plugins are not imported.",
)
RELOAD = Setting(
    "reload",
    "str",
    "auto",
    "Reload an agent's code when its file is saved: 'on', 'off', or 'auto' (on under "
    "`openrtc dev`, off otherwise). New calls get the new code; a save that fails to import "
    "changes nothing. Live calls move to it at their next turn (coroutine, hybrid).",
    validator=lambda value: (
        None if value in ("auto", "on", "off") else f"must be 'auto', 'on' or 'off', not {value!r}"
    ),
)
DEPLOYMENT_VERSION = Setting(
    "deployment_version",
    "str",
    "",
    "The version this worker runs, carried by every call (agent attribute openrtc.version), "
    "snapshots, events and metrics; set it to your release or image tag. Empty: 'src-' and "
    "8 hex digits of a hash of the registered agents' source files, the same wherever the "
    "same code runs.",
)
HTTP_PORT = Setting(
    "http_port",
    "int",
    0,
    "Port of the worker's HTTP endpoints: /healthz (live), /readyz (registered, not "
    "draining, not full), livekit's / and /worker; 0: a free port, logged at start.",
    minimum=0,
)
TAKEOVER = Setting(
    "takeover",
    "bool",
    False,
    "Take over from the workers of the same deployment (same LiveKit URL and dispatch_name) "
    "already running on this host: once this worker has registered, they drain and exit 0 "
    "after their last call. If it fails to start within takeover_timeout, none drains.",
)
TAKEOVER_TIMEOUT = Setting(
    "takeover_timeout",
    "float",
    120.0,
    "Seconds a worker started with --takeover has to import, prewarm and register; past "
    "them it exits 1 and the running workers keep serving (0: no limit).",
    minimum=0,
)
CONTROL_DIR = Setting(
    "control_dir",
    "str",
    "",
    "Directory of the workers' control sockets (takeover, `openrtc top`); it must be private "
    "to this user. Empty: $XDG_RUNTIME_DIR/openrtc, or /tmp/openrtc-<uid> without it.",
)
STRICT_PLUGINS = Setting(
    "strict_plugins",
    "bool",
    False,
    "Make a plugin that fails to load fatal instead of reporting and skipping it.",
)

PLUGIN_SELECTION = (DISABLE_PLUGINS, STRICT_PLUGINS)
"""Resolved first: they decide which plugins load, and so which other settings exist."""

KERNEL_SETTINGS = (
    *AGENT_DEFAULTS,
    ISOLATION,
    MAX_CONCURRENT_SESSIONS,
    CONSECUTIVE_FAILURE_LIMIT,
    DRAIN_TIMEOUT,
    SESSION_CLOSE_ENDS_JOB,
    REPLY_TIMEOUT,
    TRANSCRIPT_TIMEOUT,
    REGISTRATION_TIMEOUT,
    ROUTERS,
    DISPATCH_NAME,
    METRICS_INTERVAL,
    METRICS_JSON_FILE,
    RELOAD,
    DEPLOYMENT_VERSION,
    HTTP_PORT,
    TAKEOVER,
    TAKEOVER_TIMEOUT,
    CONTROL_DIR,
    *PLUGIN_SELECTION,
)
