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

import os
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
    physical_lines,
    read_text,
    settle_labels,
)
from altsa.data.schema import Corpus, LabelSet, Utterance, is_blank
from altsa.errors import DataError

_TURN = re.compile(r"^\[\s*([0-9.]+)\s*-\s*([0-9.]+)\s*\]\s+(\S+)\s+(\S+)")
_TEXT = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s?(.*)$")
_SESSION = re.compile(r"^Ses(\d+)")


def _entries(folder: Path) -> list[Path]:
    """The entries of ``folder`` (sorted), without hidden ones: macOS copies leave ``._X.txt``
    (AppleDouble: binary, under the name of a dialog) and ``.DS_Store``. An unreadable folder
    is an error: ``glob`` would pass it over as empty."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DataError(f"cannot read folder: {exc.strerror or exc}", path=folder) from None
    return [folder / n for n in names if not n.startswith(".")]


def _is_session(path: Path) -> bool:
    return path_kind(path / "dialog" / "EmoEvaluation")[0] == "dir"


def session_folders(path: Path) -> list[Path]:
    """The session folders ``path`` holds: itself (a session) or its ``Session*`` folders, in
    any case (the release); empty when it is neither."""
    if _is_session(path):
        return [path]
    if path_kind(path)[0] != "dir":
        return []
    return [p for p in _entries(path) if p.name.casefold().startswith("session") and _is_session(p)]


def _speaker(turn: str) -> str:
    session = _SESSION.match(turn)
    letter = turn.rsplit("_", 1)[-1][:1]
    return f"Ses{session.group(1)}_{letter}" if session and letter in ("F", "M") else ""


def _texts(file: Path) -> dict[str, str] | None:
    """turn -> text of a transcription file (lines that name no turn, none of it); None when
    the file is missing."""
    if path_kind(file)[0] == "missing":
        return None
    out: dict[str, str] = {}  # anything else that is not a readable file: read_text's error
    for line in physical_lines(read_text(file)):
        m = _TEXT.match(line.strip())
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


@CORPORA.register("iemocap")
class IemocapReader(CorpusReader):
    name = "iemocap"
    description = "IEMOCAP as released: a Session folder, or the release folder (dialog/EmoEvaluation, transcriptions, wav, avi)"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        if opts.clips is not None and path_kind(opts.clips)[0] != "dir":
            raise DataError("the clips folder (--clips / data.clips) does not exist", path=opts.clips)
        sessions = session_folders(path)
        if not sessions:
            raise DataError("not an IEMOCAP session or release folder (expected dialog/EmoEvaluation/ in it, or "
                            "Session1/ ... Session5/ holding that)", path=path)
        log = ProblemLog(path, opts.strict)
        given: LabelSet | None = opts.label_set
        dialogues, repairs = Dialogues(log), Repairs()
        for session in sessions:
            self._session(session, given, dialogues, repairs, log, opts)
        name = path.resolve().name  # "." names the folder it is
        return finish(name, dialogues, log, repairs, settle_labels(dialogues.utterances(), opts.task, given, name))

    @staticmethod
    def _session(session: Path, given: LabelSet | None, dialogues: Dialogues, repairs: Repairs,
                 log: ProblemLog, opts: ReadOptions) -> None:
        dialog, session_name = session / "dialog", session.resolve().name
        if opts.clips is not None:  # the recordings under another root, session by session
            media_root = opts.clips / session_name / "dialog"
            if path_kind(media_root)[0] != "dir":
                raise DataError(f"no {session_name}/dialog/ folder under the clips folder", path=opts.clips)
        else:
            media_root = dialog
        wav_dir, avi_dir = media_root / "wav", media_root / "avi" / "DivX"
        has_wav, has_avi = path_kind(wav_dir)[0] == "dir", path_kind(avi_dir)[0] == "dir"
        for evaluation in _entries(dialog / "EmoEvaluation"):
            if evaluation.suffix != ".txt" or path_kind(evaluation)[0] != "file":
                continue
            name = evaluation.stem
            texts = _texts(dialog / "transcriptions" / f"{name}.txt")
            audio = str(wav_dir / f"{name}.wav") if has_wav else None  # the dialog's recording: every turn a span
            video = str(avi_dir / f"{name}.avi") if has_avi else None
            turns: list[tuple[float, float, str, str, int]] = []
            seen: set[str] = set()
            for n, line in enumerate(physical_lines(read_text(evaluation)), start=1):
                line = line.strip()
                if not line.startswith("["):
                    continue
                log.rows_read += 1
                m = _TURN.match(line)
                if m is None:
                    log.report(n, f"not a turn line '[start - end] TURN LABEL [v, a, d]': {shown(line, 120)}",
                               "malformed_row", path=evaluation)
                    continue
                try:
                    start, end = float(m.group(1)), float(m.group(2))
                except ValueError:
                    start = end = -1.0
                turn, label = m.group(3), m.group(4)
                if not 0 <= start < end:
                    log.report(n, f"turn {turn}: times {m.group(1)} - {m.group(2)} are not a span", "bad_span",
                               path=evaluation)
                    continue
                if turn in seen:
                    log.report(n, f"turn {turn} evaluated twice", "duplicate_utterance", path=evaluation)
                    continue
                seen.add(turn)
                turns.append((start, end, turn, label, n))
            turns.sort()  # by start time
            dialogues.open(name)
            for position, (start, end, turn, label, n) in enumerate(turns):
                if texts is None or turn not in texts:
                    missing = f"no {dialog.name}/transcriptions/{name}.txt" if texts is None else \
                        f"no line for it in transcriptions/{name}.txt"
                    log.report(n, f"turn {turn}: {missing}", "no_transcript", path=evaluation)
                    continue
                (text, label), kinds = repairs.fix((texts[turn], label))
                if is_blank(text) and not (audio or video):
                    log.report(n, f"turn {turn} has an empty transcription and no recording", "empty_text",
                               path=evaluation)
                    continue
                if given is not None:
                    try:
                        label = given.canonical(label)
                    except DataError as err:
                        log.report(n, err.message, "unknown_label", path=evaluation)
                        continue
                utt = Utterance(dialogue_id=name, position=position, speaker=_speaker(turn), text=text,
                                labels={opts.task: label}, meta={"turn": turn, "session": session_name},
                                audio=audio, video=video, start=start, end=end)
                if dialogues.add(utt, n):
                    repairs.keep(kinds)
