"""Recordings in: a raw audio or video file of a conversation -> utterances with speakers.

    from altsa.recordings import RecordingConfig, transcribe_recording
    t = transcribe_recording("call.mp3", RecordingConfig(speakers=2))
    for u in t.conversation: print(u.start, u.end, u.speaker, u.text)

Voice activity (Silero VAD) -> words with times (Whisper via faster-whisper) -> speakers
(Resemblyzer's voice encoder, clustered) -> a ``Conversation`` whose utterances carry their
span of the recording (``start``, ``end``, ``media``); ``Transcript.items()`` adds each span's audio (and video frames) for
``Recognizer.predict`` (``Recognizer.predict_recording`` does both). Needs the
``recordings`` extra. See docs/recordings.md.
"""

from altsa.recordings.config import RecordingConfig
from altsa.recordings.pipeline import NO_SPEECH, Transcript, transcribe_recording
from altsa.recordings.source import RecordingInfo, RecordingTooLong, load_audio, probe

__all__ = [
    "NO_SPEECH", "RecordingConfig", "RecordingInfo", "RecordingTooLong", "Transcript", "load_audio", "probe",
    "transcribe_recording",
]
