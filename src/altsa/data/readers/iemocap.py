"""IEMOCAP as released (Busso et al. 2008, ``IEMOCAP_full_release``): read straight from its
folders, no manifest to prepare.

A path is one session folder (``Session1``, holding ``dialog/``) or the release folder (every
``Session*`` in it). Per dialog (``Ses01F_impro01``):

- ``dialog/EmoEvaluation/<dialog>.txt``: one block per evaluated turn, opened by
  ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``: its
  times in the dialog's recording and its consensus label (``neu``, ``hap``, ``exc``, ``sad``,
  ``ang``, ``fru``, ``sur``, ``fea``, ``dis``, ``oth``, ``xxx``). These turns are the utterances,
  ordered by start time;
- ``dialog/transcriptions/<dialog>.txt``: ``Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.``
  gives each turn's text;
- ``dialog/wav/<dialog>.wav`` and ``dialog/avi/DivX/<dialog>.avi``: the dialog's recording,
  each utterance its span of them (``start``/``end``), so audio and video come from the same
  times. A session without one of these folders has that modality not provided; a file
  missing from a folder that exists is a missing clip (counted).

The speaker is the actor: session and the letter opening the turn's last part
(``Ses01F_impro01_M003``: ``Ses01_M``; the ``F`` after ``Ses01`` only says who wore the markers).
Labels are the codes as written; choose the classes with ``data.labels`` and
``data.label_aliases`` (the usual four: ``[ang, hap, neu, sad]``, ``exc: hap``).
"""

from __future__ import annotations

import re
from pathlib import Path

from altsa.data.paths import path_kind, shown
from altsa.data.readers._base import (
    CORPORA,
    CorpusReader,
    Dialogues,
    ProblemLog,
    ReadOptions,
    Repairs,
    finish,
    read_text,
    settle_labels,
)
from altsa.data.schema import Corpus, LabelSet, Utterance, is_blank
from altsa.errors import DataError

_TURN = re.compile(r"^\[\s*([0-9.]+)\s*-\s*([0-9.]+)\s*\]\s+(\S+)\s+(\S+)")
_TEXT = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s?(.*)$")
_SESSION = re.compile(r"^Ses(\d+)")


def session_folders(path: Path) -> list[Path]:
    """The session folders ``path`` holds: itself (a session) or its ``Session*`` folders
    (the release); empty when it is neither."""
    if path_kind(path / "dialog" / "EmoEvaluation")[0] == "dir":
        return [path]
    return sorted(p for p in path.glob("Session*") if path_kind(p / "dialog" / "EmoEvaluation")[0] == "dir")


def _speaker(turn: str) -> str:
    session = _SESSION.match(turn)
    letter = turn.rsplit("_", 1)[-1][:1]
    return f"Ses{session.group(1)}_{letter}" if session and letter in ("F", "M") else ""


def _texts(file: Path) -> dict[str, str]:
    """turn -> text of a transcription file (lines that name no turn, none of it)."""
    out: dict[str, str] = {}
    if path_kind(file)[0] != "file":
        return out
    for line in read_text(file).splitlines():
        m = _TEXT.match(line.strip())
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


@CORPORA.register("iemocap")
class IemocapReader(CorpusReader):
    name = "iemocap"
    description = "IEMOCAP as released: a Session folder, or the release folder (dialog/EmoEvaluation, transcriptions, wav, avi)"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        sessions = session_folders(path)
        if not sessions:
            raise DataError("not an IEMOCAP session or release folder (expected dialog/EmoEvaluation/ in it, or "
                            "Session1/ ... Session5/ holding that)", path=path)
        log = ProblemLog(path, opts.strict)
        given: LabelSet | None = opts.label_set
        dialogues, repairs = Dialogues(log), Repairs()
        for session in sessions:
            self._session(path, session, given, dialogues, repairs, log, opts)
        return finish(path.name, dialogues, log, repairs,
                      settle_labels(dialogues.utterances(), opts.task, given, path.name))

    @staticmethod
    def _session(root: Path, session: Path, given: LabelSet | None, dialogues: Dialogues, repairs: Repairs, log: ProblemLog,
                 opts: ReadOptions) -> None:
        dialog = session / "dialog"
        media_root = (opts.clips / session.name / "dialog") if opts.clips is not None else dialog
        wav_dir, avi_dir = media_root / "wav", media_root / "avi" / "DivX"
        has_wav, has_avi = path_kind(wav_dir)[0] == "dir", path_kind(avi_dir)[0] == "dir"
        for evaluation in sorted((dialog / "EmoEvaluation").glob("*.txt")):
            name = evaluation.stem
            texts = _texts(dialog / "transcriptions" / f"{name}.txt")
            turns: list[tuple[float, float, str, str, int]] = []
            seen: set[str] = set()
            shown_file = evaluation.relative_to(root).as_posix()  # the message starts with root
            for n, line in enumerate(read_text(evaluation).splitlines(), start=1):
                if not line.startswith("["):
                    continue
                log.rows_read += 1
                m = _TURN.match(line)
                try:
                    start, end = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
                except ValueError:
                    m = None
                if m is None or end <= start:
                    log.report(None, f"{shown_file}:{n}: not a turn line '[start - end] TURN LABEL [v, a, d]': "
                               f"{shown(line.strip(), 120)}", "malformed_row")
                    continue
                turn, label = m.group(3), m.group(4)
                if turn in seen:
                    log.report(None, f"{shown_file}:{n}: turn {turn} evaluated twice", "duplicate_utterance")
                    continue
                seen.add(turn)
                turns.append((start, end, turn, label, n))
            turns.sort()  # by start time
            dialogues.open(name)
            for position, (start, end, turn, label, n) in enumerate(turns):
                where = f"{shown_file}:{n}"
                (text, label), kinds = repairs.fix((texts.get(turn, ""), label))
                audio = str(wav_dir / f"{name}.wav") if has_wav else None
                video = str(avi_dir / f"{name}.avi") if has_avi else None
                if is_blank(text) and not (audio or video):
                    log.report(None, f"{where}: turn {turn} has no transcription and no recording", "empty_text")
                    continue
                if given is not None:
                    try:
                        label = given.canonical(label)
                    except DataError as err:
                        log.report(None, f"{where}: {err.message}", "unknown_label")
                        continue
                utt = Utterance(dialogue_id=name, position=position, speaker=_speaker(turn), text=text,
                                labels={opts.task: label}, meta={"turn": turn, "session": session.name},
                                audio=audio, video=video, start=start, end=end)
                if dialogues.add(utt, None):
                    repairs.keep(kinds)
