"""EmoryNLP as its authors publish it: ``emotion-detection-{trn,dev,tst}.json`` (Zahiri & Choi
2018, github.com/emorynlp/emotion-detection), one JSON document per split.

The document holds ``episodes``, each ``scenes``, each ``utterances``. A scene is a
conversation: its ``scene_id`` (``s01_e15_c01``) is unique across the corpus. An utterance's
position is the number ending its ``utterance_id`` (``s01_e15_c06_u008``: 8; the ids have gaps
where a line was left out, and gaps are kept), its speaker the names in ``speakers`` joined
(``Rachel Green``; two at once: ``Joey Tribbiani, Chandler Bing``), its text ``transcript`` and
its label ``emotion`` (``Joyful``, ``Mad``, ``Neutral``, ``Peaceful``, ``Powerful``, ``Sad``,
``Scared``: the ``emorynlp-emotion`` set, unless ``--labels`` names another; a label outside
it, or none, is a skipped row). A key named twice is a problem at the level it is on: the
document's ``episodes`` (fatal), an episode's or a scene's keys (the episode or scene is
skipped, its utterances counted), an utterance's (that utterance). ``tokens`` and ``character_entities`` are not read.

Per-utterance problems name the line of the utterance's ``utterance_id`` in the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from altsa.data.paths import shown
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
from altsa.data.readers.jsonl import duplicate_keys, duplicates_message, loads, own_duplicates
from altsa.data.schema import EMORYNLP_EMOTION, Corpus, LabelSet, Utterance, is_blank
from altsa.errors import DataError

_ID_LINE = re.compile(r'"utterance_id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_POSITION = re.compile(r"_u(\d+)$")


def _lines(text: str) -> dict[str, list[int]]:
    """utterance_id -> the lines it is written on, in file order."""
    out: dict[str, list[int]] = {}
    line, last = 1, 0
    for m in _ID_LINE.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        out.setdefault(m.group(1), []).append(line)
    return out


def looks_like(head: str) -> bool:
    """Whether the first bytes of a file (decoded) are an EmoryNLP JSON document: an object
    with an ``episodes`` list and no ``utterances`` of its own, spread over lines or on one."""
    first = head.lstrip().split("\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        return '"episodes"' in head  # spread over lines (or longer than the bytes looked at)
    return isinstance(obj, dict) and isinstance(obj.get("episodes"), list) and "utterances" not in obj


@CORPORA.register("emorynlp-json")
class EmoryNlpJsonReader(CorpusReader):
    name = "emorynlp-json"
    description = "EmoryNLP as published by its authors (emotion-detection-*.json: episodes > scenes > utterances)"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        if opts.clips is not None:
            raise DataError("EmoryNLP's JSON names no media: it has no clips to find (drop --clips)", path=path)
        text = read_text(path)
        try:
            doc = loads(text)
        except ValueError as exc:
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise DataError(f"not valid JSON{where}: {getattr(exc, 'msg', exc)}", path=path) from None
        except RecursionError:
            raise DataError("not valid JSON: nested too deeply", path=path) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("episodes"), list):
            raise DataError("not an EmoryNLP document: expected an object with an 'episodes' list "
                            "(emotion-detection-*.json)", path=path)
        if own_duplicates(doc, frozenset({"episodes"})):
            raise DataError("the key 'episodes' is given twice: which list is meant?", path=path)
        lines = _lines(text)
        log = ProblemLog(path, opts.strict)
        # the published labels, as the CSV reader's emorynlp mapping fixes them: another is a skipped row
        given: LabelSet | None = opts.label_set or (EMORYNLP_EMOTION if opts.task == "emotion" else None)
        dialogues, repairs = Dialogues(log), Repairs()
        for e, episode in enumerate(doc["episodes"]):
            scenes = episode.get("scenes") if isinstance(episode, dict) else None
            if not isinstance(scenes, list):
                log.rows_read += 1
                log.report(None, f"episode {e}: no 'scenes' list", "invalid_conversation")
                continue
            twice = own_duplicates(episode, frozenset({"scenes", "episode_id"}))
            if twice:
                n = sum(len(c.get("utterances", [])) for c in scenes if isinstance(c, dict)
                        and isinstance(c.get("utterances"), list)) or 1
                log.rows_read += n
                log.report(None, f"episode {e}: {duplicates_message(twice)}", "duplicate_key", n)
                continue
            for s, scene in enumerate(scenes):
                self._scene(scene, f"episode {e} scene {s}", given, dialogues, repairs, log, lines, opts.task)
        return finish(path.stem, dialogues, log, repairs,
                      settle_labels(dialogues.utterances(), opts.task, given, path.stem))

    @staticmethod
    def _scene(scene: Any, where: str, given: LabelSet | None, dialogues: Dialogues, repairs: Repairs,
               log: ProblemLog, lines: dict[str, list[int]], task: str) -> None:
        utts = scene.get("utterances") if isinstance(scene, dict) else None
        sid = scene.get("scene_id") if isinstance(scene, dict) else None
        if not isinstance(utts, list) or not isinstance(sid, str) or not sid.strip():
            n = len(utts) if isinstance(utts, list) and utts else 1
            log.rows_read += n
            log.report(None, f"{where}: needs a 'scene_id' string and an 'utterances' list", "invalid_conversation", n)
            return
        twice = own_duplicates(scene, frozenset({"scene_id", "utterances"}))
        if twice:
            log.rows_read += len(utts) or 1
            log.report(None, f"scene {shown(repr(sid))}: {duplicates_message(twice)}", "duplicate_key", len(utts) or 1)
            return
        if sid in dialogues:
            log.rows_read += len(utts) or 1
            log.report(None, f"scene {shown(repr(sid))} seen before", "duplicate_dialogue", len(utts) or 1)
            return
        dialogues.open(sid)
        for k, u in enumerate(utts):
            log.rows_read += 1
            uid = u.get("utterance_id") if isinstance(u, dict) else None
            at = lines.get(uid) if isinstance(uid, str) else None
            line = at.pop(0) if at else None  # the k-th object with this id: its k-th line
            name = f"utterance {shown(repr(uid))}" if isinstance(uid, str) else f"scene {shown(repr(sid))} utterance {k}"
            if not isinstance(u, dict):
                log.report(line, f"{name}: not an object", "invalid_field")
                continue
            twice = duplicate_keys(u)
            if twice:
                log.report(line, f"{name}: {duplicates_message(twice)}", "duplicate_key")
                continue
            transcript, speakers, emotion = u.get("transcript"), u.get("speakers", []), u.get("emotion")
            if not isinstance(transcript, str) or not isinstance(speakers, list) or \
                    not all(isinstance(p, str) for p in speakers) or not isinstance(emotion, (str, type(None))):
                log.report(line, f"{name}: 'transcript' and 'emotion' must be strings, 'speakers' a list of names",
                           "invalid_field")
                continue
            (transcript, speaker, label), kinds = repairs.fix((transcript, ", ".join(speakers), emotion or ""))
            if is_blank(transcript):
                log.report(line, f"{name}: empty transcript", "empty_text")
                continue
            if not label.strip():
                log.report(line, f"{name}: no emotion", "empty_label")
                continue
            if given is not None:
                try:
                    label = given.canonical(label)
                except DataError as err:
                    log.report(line, f"{name}: {err.message}", "unknown_label")
                    continue
            m = _POSITION.search(uid) if isinstance(uid, str) else None
            position = int(m.group(1)) if m else dialogues.next_position(sid)
            utt = Utterance(dialogue_id=sid, position=position, speaker=speaker, text=transcript, labels={task: label},
                            meta={"utterance_id": uid} if isinstance(uid, str) else {})
            if dialogues.add(utt, line):
                repairs.keep(kinds)
