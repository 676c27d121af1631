"""What ``openrtc console`` runs: one ``AgentSession`` in this process, with no room.

The session is built exactly as a worker builds it (prewarm hooks, every session-option layer,
the greeting), through livekit's public API: an ``AgentSession`` started without a room is
driven by ``run(user_input=...)`` in text mode, or by local audio I/O in audio mode.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from openrtc.pool import AgentPool
    from openrtc.sessions import SessionPlan

logger = logging.getLogger("openrtc.console")

OFFLINE_DISTRIBUTION = "openrtc-providers-offline"


class ConsoleError(RuntimeError):
    """The console cannot run this agent; the message names the fix."""


def audio_unavailable() -> str | None:
    """Why audio mode cannot run here (no PortAudio, no microphone or speaker), or ``None``."""
    try:
        import sounddevice  # type: ignore[import-untyped]
    except OSError as exc:  # sounddevice raises OSError when the PortAudio library is missing
        return str(exc)
    for kind in ("input", "output"):
        try:
            sounddevice.query_devices(kind=kind)
        except (sounddevice.PortAudioError, ValueError) as exc:
            return f"no default {kind} device: {exc}"
    return None


def console_options(
    plan: SessionPlan,
    *,
    text: bool,
    offline: bool,
    offline_providers: Callable[[], tuple[Any, Any, Any] | None],
) -> tuple[dict[str, Any], str]:
    """The session's keyword arguments for the console, and a note on what was filled in.

    Text mode never synthesises or recognises speech, so STT and TTS are dropped rather than
    built (a configured cloud provider would want its keys for nothing). Slots still empty,
    or every slot with ``offline``, get what ``offline_providers`` offers (the
    ``openrtc_offline_providers`` hook; openrtc-providers-offline implements it).
    """
    kwargs = dict(plan.session_kwargs)
    slots = ("llm",) if text else ("stt", "llm", "tts")
    if text:
        kwargs.pop("stt", None)
        kwargs.pop("tts", None)
    wanted = [slot for slot in slots if offline or kwargs.get(slot) is None]
    if not wanted:
        return kwargs, ""
    offered = offline_providers()
    if offered is None:
        raise ConsoleError(
            f"agent '{plan.agent.name}' has no {'/'.join(wanted).upper()}; set one (for example "
            f"--default-llm) or pip install {OFFLINE_DISTRIBUTION}"
        )
    stt, llm, tts = offered
    offline_by_slot = {"stt": stt, "llm": llm, "tts": tts}
    for slot in wanted:
        kwargs[slot] = offline_by_slot[slot]
    return kwargs, f"offline {'/'.join(wanted).upper()}"


class Transcript:
    """Prints the conversation: agent replies and tool calls as the session adds them."""

    def __init__(self, console: Console, *, echo_user: bool) -> None:
        self.console = console
        self.echo_user = echo_user

    def attach(self, session: Any) -> None:
        session.on("conversation_item_added", self._item_added)
        session.on("function_tools_executed", self._tools_executed)

    def _item_added(self, event: Any) -> None:
        item = event.item
        if getattr(item, "type", None) != "message":
            return
        text = item.text_content or ""
        if item.role == "assistant":
            self.console.print(f"[bold cyan]agent:[/] {escape(text)}")
        elif item.role == "user" and self.echo_user:
            self.console.print(f"[bold green]you:[/] {escape(text)}")

    def _tools_executed(self, event: Any) -> None:
        for call, output in event.zipped():
            shown = output.output if output is not None else ""
            self.console.print(
                f"[dim]  tool {escape(call.name)}({escape(call.arguments)}) -> "
                f"{escape(str(shown))}[/]"
            )


class StdinLines:
    """Lines typed or piped on stdin, read by a daemon thread so Ctrl-C never waits for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._read, name="console-stdin", daemon=True).start()

    def _read(self) -> None:
        while True:
            line = sys.stdin.readline()
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line or None)
            except RuntimeError:  # the loop closed while we waited for input
                return
            if not line:
                return

    async def next(self) -> str | None:
        """The next line without its newline, or ``None`` at end of input."""
        line = await self._queue.get()
        return None if line is None else line.rstrip("\r\n")


def run_console(pool: AgentPool, agent: str, *, text: bool, offline: bool) -> int:
    """Run the console until end of input (text) or Ctrl-C; the exit code."""
    try:
        return asyncio.run(_console(pool, agent, text=text, offline=offline))
    except KeyboardInterrupt:
        return 0


async def _console(pool: AgentPool, agent: str, *, text: bool, offline: bool) -> int:
    from openrtc.livekit_adapter import standalone_job_process
    from openrtc.sessions import build_session, start_session

    console = Console(highlight=False, soft_wrap=True)
    try:
        plan = pool.local_session(agent, standalone_job_process())
    except Exception as exc:  # a plugin's prewarm or session hook: one line, not a traceback
        raise ConsoleError(f"cannot prepare agent '{agent}': {exc}") from exc
    kwargs, note = console_options(
        plan, text=text, offline=offline, offline_providers=pool.offline_providers
    )
    plan = plan.with_options(kwargs)
    interactive = sys.stdin.isatty()
    transcript = Transcript(console, echo_user=not interactive or not text)
    try:
        session: Any = build_session(plan)
    except Exception as exc:  # e.g. a provider string whose plugin or key is missing
        raise ConsoleError(f"cannot build the session of agent '{agent}': {exc}") from exc
    mode = "text" if text else "audio"
    console.print(
        f"[dim]openrtc console: agent '{agent}' ({mode} mode"
        + (f"; {note}" if note else "")
        + (
            "); type a message, Ctrl-D to quit[/]"
            if text
            else "); speak (with headphones: the microphone hears the speaker), Ctrl-C to quit[/]"
        )
    )
    transcript.attach(session)
    audio = None
    if not text:
        from openrtc.cli.console_audio import LocalAudio

        try:
            audio = LocalAudio.open(asyncio.get_running_loop())
        except Exception as exc:  # PortAudio's errors: busy, unsupported rate, unplugged...
            raise ConsoleError(f"cannot open the audio devices ({exc}); run with --text") from None
        session.input.audio = audio.input
        session.output.audio = audio.output
    try:
        await start_session(session, plan, capture_run=True, await_greeting=True)
        if text:
            await _type_turns(session, console, interactive)
        else:
            await asyncio.Event().wait()  # the audio streams drive the session until Ctrl-C
    finally:
        await session.aclose()
        if audio is not None:
            audio.close()
    return 0


async def _type_turns(session: Any, console: Console, interactive: bool) -> None:
    lines = StdinLines(asyncio.get_running_loop())
    while True:
        if interactive:
            console.print("[bold green]you>[/] ", end="")
        line = await lines.next()
        if line is None:
            if interactive:
                console.print()
            return
        if not line.strip():
            continue
        try:
            await session.run(user_input=line)
        except Exception as exc:  # one failed turn is reported; the conversation goes on
            console.print(f"[red]turn failed: {escape(f'{type(exc).__name__}: {exc}')}[/]")
