"""The test bed itself: a real livekit-server on loopback, real SDK callers, real dispatches."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from livekit import api
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory

pytestmark = pytest.mark.e2e

SPEECH_WAV = Path(__file__).parents[1] / "data" / "hello_appointment_16k.wav"
# Generous: the SFU on a loaded 2-core CI box can take a while to negotiate the first track.
WAIT_S = 20.0


def test_server_answers_on_loopback_only(livekit_server: LocalLiveKitServer) -> None:
    with urllib.request.urlopen(livekit_server.http_url + "/", timeout=5) as response:
        assert response.status == 200
    assert livekit_server.url.startswith("ws://127.0.0.1:")
    assert livekit_server.env()["LIVEKIT_URL"] == livekit_server.url
    assert len(livekit_server.api_secret) >= 32

    config = json.loads(livekit_server.config_path.read_text())
    assert config["bind_addresses"] == ["127.0.0.1"]
    assert config["rtc"]["use_external_ip"] is False
    assert config["rtc"]["node_ip"] == "127.0.0.1"
    assert all(s.startswith("127.0.0.1:") for s in config["rtc"]["stun_servers"])

    log = livekit_server.log_path.read_text()  # the whole log: the server is shared
    assert '"nodeIP": "127.0.0.1"' in log
    # The server only queries STUN when discovering an external IP; it must never do so here.
    # As a word: the log also holds random ICE passwords and ids, and one read "+stunh8kn".
    assert not re.search(r"\bstun\b", log, re.IGNORECASE)
    assert "external ip" not in log.lower()


@pytest.mark.asyncio
async def test_api_rejects_a_wrong_secret(livekit_server: LocalLiveKitServer) -> None:
    class Impostor:
        url = livekit_server.url
        api_key = livekit_server.api_key
        api_secret = "x" * 43

    async with ServerAdmin(Impostor()) as admin:
        with pytest.raises(api.TwirpError):
            await admin.list_rooms()


@pytest.mark.asyncio
async def test_caller_hears_another_callers_speech(caller_factory: CallerFactory) -> None:
    room = new_room_name()
    alice = await caller_factory(room, "alice")
    bob = await caller_factory(room, "bob")
    await bob.wait_for_participant(WAIT_S, identity="alice")

    # Both microphones are open and carry audio, but nobody has spoken: none of it is speech.
    quiet = await bob.wait_for_audio(WAIT_S, participant="alice", seconds=0.5)
    assert quiet.speech_s == 0.0, bob.describe_heard()

    started = time.monotonic()
    said_s = await alice.say(SPEECH_WAV)
    heard_at = await bob.wait_for_speech(WAIT_S, participant="alice", after=started)
    await asyncio.sleep(0.5)  # let the tail of the utterance arrive

    heard = bob.heard["alice"]
    assert heard.first_speech_at == heard_at > started
    # espeak leaves short pauses between words, so speech is most, not all, of the clip.
    assert 0.4 * said_s < heard.speech_s <= said_s + 0.5, bob.describe_heard()
    assert heard.received_s > heard.speech_s
    assert heard.peak_rms > 2 * bob.speech_rms
    assert len(heard.speech_onsets) >= 1
    # Bob never spoke, so Alice heard his track carry only silence.
    assert alice.heard["bob"].received_s > 0.5
    assert alice.heard["bob"].speech_s == 0.0, alice.describe_heard()


@pytest.mark.asyncio
async def test_explicit_dispatch_is_recorded(livekit_admin: ServerAdmin) -> None:
    room = new_room_name("dispatch")
    await livekit_admin.create_room(room)
    assert [r.name for r in await livekit_admin.list_rooms([room])] == [room]

    dispatch = await livekit_admin.create_dispatch(
        agent_name="dental", room=room, metadata='{"tenant": "acme"}'
    )
    # The server may also hold a default dispatch (empty agent name) made with the room.
    listed = {d.id: d for d in await livekit_admin.list_dispatches(room)}
    assert dispatch.id in listed, listed
    assert listed[dispatch.id].agent_name == "dental"
    assert listed[dispatch.id].metadata == '{"tenant": "acme"}'
    assert listed[dispatch.id].room == room

    await livekit_admin.delete_dispatch(dispatch.id, room)
    assert dispatch.id not in {d.id for d in await livekit_admin.list_dispatches(room)}
    await livekit_admin.delete_room(room)
    assert await livekit_admin.list_rooms([room]) == []


@pytest.mark.asyncio
async def test_caller_records_transcription_streams(caller_factory: CallerFactory) -> None:
    room = new_room_name()
    speaker = await caller_factory(room, "speaker")
    listener = await caller_factory(room, "listener")
    await speaker.wait_for_participant(WAIT_S, identity="listener")

    # The same shape livekit-agents publishes: text in chunks, the final flag on the close.
    writer = await speaker.room.local_participant.stream_text(
        topic="lk.transcription",
        attributes={"lk.transcription_final": "false", "lk.segment_id": "SG_1"},
    )
    await writer.write("Thanks for calling, ")
    await writer.write("how can I help?")
    await writer.aclose(attributes={"lk.transcription_final": "true"})

    event = await listener.wait_for_transcript(WAIT_S, contains="how can i help")
    assert event.text == "Thanks for calling, how can I help?"
    assert event.participant_identity == "speaker"
    assert event.segment_id == "SG_1"
    assert event.source == "text_stream"
    assert [e.text for e in listener.transcripts] == [event.text]
