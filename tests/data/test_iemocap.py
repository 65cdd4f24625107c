"""IEMOCAP read from its release folders (format ``iemocap``): evaluated turns in time order,
text from the transcriptions, the dialog's recording spanned per turn, the actor as speaker,
problems counted with the evaluation file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from altsa.data.readers import detect_format, read_corpus
from altsa.data.schema import LabelSet
from altsa.errors import DataError

HEAD = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def _session(root: Path, n: int, turns, *, wav=True, avi=False, transcripts=True) -> Path:
    """``turns``: (start, end, turn suffix, label, text) in the order the evaluation lists them."""
    dialog = root / f"Session{n}" / "dialog"
    name = f"Ses0{n}F_impro01"
    (dialog / "EmoEvaluation").mkdir(parents=True)
    blocks = [f"[{a:.4f} - {b:.4f}]\t{name}_{t}\t{lab}\t[2.5000, 2.5000, 2.5000]\nC-E2:\tNeutral;\t()\n"
              for a, b, t, lab, _ in turns]
    (dialog / "EmoEvaluation" / f"{name}.txt").write_text(HEAD + "\n".join(blocks))
    if transcripts:
        (dialog / "transcriptions").mkdir()
        lines = [f"{name}_{t} [{a:08.4f}-{b:08.4f}]: {text}" for a, b, t, _, text in turns if text]
        (dialog / "transcriptions" / f"{name}.txt").write_text("\n".join([*lines, "M: [BREATHING]"]) + "\n")
    if wav:
        (dialog / "wav").mkdir()
        (dialog / "wav" / f"{name}.wav").write_bytes(b"RIFF")
    if avi:
        (dialog / "avi" / "DivX").mkdir(parents=True)
    return dialog.parent


TURNS = [(10.0, 11.5, "M000", "fru", "Do you have your forms?"), (6.29, 8.23, "F000", "neu", "Excuse me."),
         (12.0, 14.0, "F001", "exc", "Great!"), (8.5, 9.9, "M001", "ang", "")]


def test_turns_in_time_order_with_text_speaker_and_span(tmp_path):
    session = _session(tmp_path, 1, TURNS, avi=True)
    assert detect_format(session) == "iemocap" and detect_format(tmp_path) == "iemocap"
    corpus = read_corpus(session)
    (conv,) = corpus.conversations
    assert conv.dialogue_id == "Ses01F_impro01"
    utts = conv.utterances
    assert [u.meta["turn"][-4:] for u in utts] == ["F000", "M000", "F001"]  # M001 has no transcription line
    assert [u.position for u in utts] == [0, 2, 3]  # positions from the time order of all evaluated turns
    assert [u.speaker for u in utts] == ["Ses01_F", "Ses01_M", "Ses01_F"]
    assert [u.text for u in utts] == ["Excuse me.", "Do you have your forms?", "Great!"]
    assert [(u.start, u.end) for u in utts][:2] == [(6.29, 8.23), (10.0, 11.5)]
    assert utts[0].audio.endswith("Session1/dialog/wav/Ses01F_impro01.wav")
    assert utts[0].video.endswith("Session1/dialog/avi/DivX/Ses01F_impro01.avi")  # the folder exists: named
    assert corpus.missing_media == [u.key for u in utts]  # ... its file does not: counted
    assert [u.labels["emotion"] for u in utts] == ["neu", "fru", "exc"]  # the codes as written
    (problem,) = corpus.problems  # the turn without text is counted, in its evaluation file
    assert problem.reason == "no_transcript" and problem.path.endswith("EmoEvaluation/Ses01F_impro01.txt")
    assert "Ses01F_impro01_M001" in problem.message and problem.line is not None


def test_label_set_and_aliases_skip_and_count_the_rest(tmp_path):
    _session(tmp_path, 1, TURNS)
    _session(tmp_path, 2, TURNS)
    (tmp_path / "Session2").rename(tmp_path / "session2")  # a copy in lower case is a session too
    four = LabelSet("iemocap-4", ("ang", "hap", "neu", "sad"), (("exc", "hap"),))
    corpus = read_corpus(tmp_path, format="iemocap", label_set=four)  # the release: both sessions
    counts = corpus.counts()
    assert counts["read"] == 8 and counts["kept"] == 4
    assert counts["skipped_by_reason"] == {"unknown_label": 2, "no_transcript": 2}
    assert [c.dialogue_id for c in corpus.conversations] == ["Ses01F_impro01", "Ses02F_impro01"]
    assert [u.labels["emotion"] for u in corpus.conversations[0].utterances] == ["neu", "hap"]
    assert corpus.conversations[0].utterances[0].video is None  # no avi/DivX folder: not provided


def test_broken_lines_spans_and_junk_files(tmp_path):
    session = _session(tmp_path, 1, TURNS, wav=False)
    evaluation = session / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    lines = evaluation.read_text() + "\n[7.0 - oops]\tSes01F_impro01_F009\tneu\n  [9.0 - 8.0]\tSes01F_impro01_F010\tneu\n"
    evaluation.write_text(lines)
    (evaluation.parent / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07\xb0\xff junk")  # macOS AppleDouble
    (evaluation.parent / "notes.txt").mkdir()  # a folder with a .txt name
    corpus = read_corpus(session)
    assert corpus.counts()["skipped_by_reason"] == {"no_transcript": 1, "malformed_row": 1, "bad_span": 1}
    assert [c.dialogue_id for c in corpus.conversations] == ["Ses01F_impro01"]
    with pytest.raises(DataError, match=r"Ses01F_impro01.txt:\d+: "):
        read_corpus(session, strict=True)


def test_a_missing_transcription_file_skips_its_turns_counted(tmp_path):
    session = _session(tmp_path, 1, TURNS, transcripts=False)
    corpus = read_corpus(session)
    assert corpus.counts()["skipped_by_reason"] == {"no_transcript": 4} and not corpus.conversations
    assert "no dialog/transcriptions/Ses01F_impro01.txt" in corpus.problems[0].message


def test_clips_root_must_hold_the_sessions(tmp_path):
    session = _session(tmp_path / "release", 1, TURNS)
    with pytest.raises(DataError, match="does not exist"):
        read_corpus(session, format="iemocap", clips=tmp_path / "nowhere")
    (tmp_path / "media").mkdir()
    with pytest.raises(DataError, match="no Session1/dialog/ folder under the clips folder"):
        read_corpus(session, format="iemocap", clips=tmp_path / "media")
    (tmp_path / "media" / "Session1" / "dialog" / "wav").mkdir(parents=True)
    utt = read_corpus(session, format="iemocap", clips=tmp_path / "media").conversations[0].utterances[0]
    assert utt.audio == str(tmp_path / "media" / "Session1" / "dialog" / "wav" / "Ses01F_impro01.wav")


def test_a_folder_that_is_not_iemocap(tmp_path):
    (tmp_path / "clips").mkdir()
    assert detect_format(tmp_path / "clips") == "clips"
    with pytest.raises(DataError, match="not an IEMOCAP session or release folder"):
        read_corpus(tmp_path / "clips", format="iemocap")


def test_a_c1_character_in_a_transcription_does_not_cut_it(tmp_path):
    """U+0085 (mojibake of an accented letter) is a line break to str.splitlines: the text was
    cut there and the rest of the line lost."""
    turns = [(1.0, 2.0, "F000", "neu", "I \u0085ngstr\u00f6m it, really.")]
    utt = read_corpus(_session(tmp_path, 1, turns)).conversations[0].utterances[0]
    assert utt.text.endswith("ngstr\u00f6m it, really.") and utt.text.startswith("I ")
