"""JSONL conversations: one conversation per line, the format ``predict``/``serve`` accept.

    {"dialogue_id": "d1", "utterances": [
        {"speaker": "Ann", "text": "Hi!", "position": 0, "labels": {"emotion": "joy"},
         "media": "clips/d1_0.mp4"}, ...]}

The full schema is in ``docs/data.md``. ``write_jsonl`` writes exactly what the reader
reads back (round trip: equal conversations).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
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
    choose_label_set,
    finish,
    media_path,
    parse_span,
    read_text,
)
from altsa.data.schema import Conversation, Corpus, LabelSet, Utterance, is_blank
from altsa.errors import DataError
from altsa.io import atomic_write_text

LABEL_SHORTHANDS = ("emotion", "sentiment")  # "emotion": "joy" is short for "labels": {"emotion": "joy"}
MEDIA_KEYS = ("media", "audio", "video")
SPAN_KEYS = ("start", "end")  # seconds into the media files: the utterance's span of one long recording
UTTERANCE_KEYS = frozenset({"text", "speaker", "position", "labels", "meta", *MEDIA_KEYS, *SPAN_KEYS, *LABEL_SHORTHANDS})
CONVERSATION_KEYS = frozenset({"dialogue_id", "utterances"})


class _Skip(Exception):
    """This utterance (or conversation) is bad; the report has been made."""


class _Twice(dict):
    """A JSON object that named a key more than once (``duplicates``: those keys). JSON leaves
    the meaning open and ``json.loads`` keeps the last value, so the reader reports it instead."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: a plain dict, or a ``_Twice`` when a key repeats."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    twice = _Twice(obj)
    twice.duplicates = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return twice


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def loads(line: str) -> Any:
    """``json.loads`` that marks objects naming a key twice (``duplicate_keys`` finds them) and
    refuses ``NaN``/``Infinity``, which Python's parser takes but JSON does not have."""
    return json.loads(line, object_pairs_hook=_object, parse_constant=_no_constant)


def duplicate_keys(value: Any, keys: frozenset[str] | None = None) -> list[str]:
    """Dotted paths of the keys named twice in ``value``'s objects (``labels.emotion``). With
    ``keys``, only those of ``value``'s own keys count and are looked under (keys outside the
    format are ignored whatever they hold). Iterative: nesting as deep as JSON allows."""
    out: list[str] = []
    stack: list[tuple[Any, str, frozenset[str] | None]] = [(value, "", keys)]
    while stack:
        node, where, only = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _Twice):
                out.extend(f"{where}{k}" for k in node.duplicates if only is None or k in only)
            stack.extend((v, f"{where}{k}.", None) for k, v in reversed(node.items())
                         if (only is None or k in only) and isinstance(v, (dict, list)))
        elif isinstance(node, list):  # a scalar (a whole body may be one: null, 1.5, "...") holds no keys
            stack.extend((v, f"{where}{i}.", None) for i, v in reversed(list(enumerate(node)))
                         if isinstance(v, (dict, list)))
    return out


def own_duplicates(obj: Any, keys: frozenset[str]) -> list[str]:
    """Which of ``keys`` the object ``obj`` itself names twice; its nested objects are not
    looked at (``duplicate_keys`` walks them)."""
    return [k for k in getattr(obj, "duplicates", ()) if k in keys]


def duplicates_message(paths: list[str]) -> str:
    what = "key" if len(paths) == 1 else "keys"
    named = ", ".join(repr(shown(p, 80)) for p in paths)
    return f"duplicate {what} {named} (JSON names each key once; which value is meant?)"


def _same_label(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    return a == b


def _as_position(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_speaker(value: Any) -> str | None:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(v.strip() for v in value if v.strip())
    return None


def _utterance(
    obj: Any,
    i: int,
    dialogue_id: str,
    default_position: int,
    label_sets: Mapping[str, LabelSet],
    base: Path,
    report: Callable[[str, str], None],
    ignored: Counter[str] | None = None,
) -> tuple[Utterance, frozenset[str]]:
    def bad(msg: str, reason: str = "invalid_field") -> _Skip:
        report(f"utterance {i}: {msg}", reason)
        return _Skip()

    if not isinstance(obj, dict):
        raise bad("expected a JSON object")
    dups = duplicate_keys(obj, keys=UTTERANCE_KEYS)
    if dups:
        raise bad(duplicates_message(dups), "duplicate_key")
    if ignored is not None:
        ignored.update(str(k) for k in obj if k not in UTTERANCE_KEYS)
    text = obj.get("text")
    if text is None:
        text = ""  # no transcript: an audio/video-only utterance (checked below)
    if not isinstance(text, str):
        raise bad(f"'text' must be a string, not {type(text).__name__}")
    speaker = _as_speaker(obj.get("speaker"))
    if speaker is None:
        raise bad("'speaker' must be a string")
    (text, speaker), kinds = Repairs.fix((text, speaker))
    position = default_position
    if obj.get("position") is not None:
        position = _as_position(obj["position"])
        if position is None:
            raise bad(f"'position' must be an integer, got {shown(repr(obj['position']))}")
    paths: dict[str, str | None] = {}
    for key in MEDIA_KEYS:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(f"{key!r} must be a path string")
        paths[key] = media_path(value, base) if value else None
    if is_blank(text) and not any(paths.values()):
        raise bad("empty text and no media (give 'text', or 'media' / 'audio' / 'video')", "empty_text")
    try:
        start, end = parse_span(obj.get("start"), obj.get("end"))
    except ValueError as err:
        raise bad(f"span: {err}", "bad_span") from None
    raw_labels = obj.get("labels") or {}
    if not isinstance(raw_labels, dict):
        raise bad("'labels' must be an object of task -> label")
    raw_labels = dict(raw_labels)
    for task in LABEL_SHORTHANDS:
        if obj.get(task) is not None:
            if task in raw_labels and not _same_label(raw_labels[task], obj[task]):
                given = shown(repr(obj[task]), 80), shown(repr(raw_labels[task]), 80)
                raise bad(f"{task!r} is {given[0]} but 'labels.{task}' is {given[1]}: give the label once",
                          "conflicting_label")
            raw_labels.setdefault(task, obj[task])
    labels: dict[str, str] = {}
    for task, label in raw_labels.items():
        if not isinstance(label, str) or not label.strip():
            raise bad(f"label for {task!r} must be a non-empty string", "empty_label")
        (label,), lkinds = Repairs.fix((label,))
        kinds |= lkinds
        if task in label_sets:
            try:
                label = label_sets[task].canonical(label)
            except DataError as err:
                raise bad(err.message, "unknown_label") from None
        labels[str(task)] = label
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise bad("'meta' must be an object")
    utt = Utterance(
        dialogue_id=dialogue_id,
        position=position,
        speaker=speaker,
        text=text,
        labels=labels,
        meta={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()},
        start=start,
        end=end,
        **paths,
    )
    return utt, kinds


def _conversation(
    obj: Any,
    default_id: str,
    label_sets: Mapping[str, LabelSet],
    base: Path,
    report: Callable[..., None],
    dialogues: Dialogues,
    line: int | None,
    repairs: Repairs,
    ignored: Counter[str] | None = None,
) -> None:
    """Add one conversation's utterances to ``dialogues``. ``report(message, reason, rows)``
    is told what was skipped (a conversation skipped whole costs all its utterances)."""
    utts = obj.get("utterances") if isinstance(obj, dict) else None
    rows = len(utts) if isinstance(utts, list) and utts else 1
    if not isinstance(obj, dict):
        report("expected a JSON object with 'utterances'", "invalid_conversation", rows)
        raise _Skip()
    # the conversation's own keys (a duplicate within an utterance skips that utterance only)
    dups = own_duplicates(obj, CONVERSATION_KEYS)
    if dups:
        report(duplicates_message(dups), "duplicate_key", rows)
        raise _Skip()
    did = obj.get("dialogue_id", default_id)
    if isinstance(did, bool) or not isinstance(did, (str, int)) or not str(did).strip():
        report(f"'dialogue_id' must be a non-empty string or integer, got {shown(repr(did))}", "invalid_conversation", rows)
        raise _Skip()
    did = str(did).strip()
    if did in dialogues:
        report(f"duplicate dialogue_id {shown(repr(did))}", "duplicate_dialogue", rows)
        raise _Skip()
    if not isinstance(utts, list) or not utts:
        report("'utterances' must be a non-empty list", "invalid_conversation", rows)
        raise _Skip()
    if ignored is not None:
        ignored.update(f"conversation.{k}" for k in obj if k not in CONVERSATION_KEYS)
    dialogues.open(did)
    for i, u in enumerate(utts):
        try:
            utt, kinds = _utterance(u, i, did, dialogues.next_position(did), label_sets, base,
                                    lambda msg, reason: report(msg, reason, 1), ignored)
        except _Skip:
            continue
        if dialogues.add(utt, line):
            repairs.keep(kinds)


def parse_conversation(
    obj: Any,
    *,
    label_sets: Mapping[str, LabelSet] | None = None,
    base: str | Path = ".",
    default_id: str = "0",
) -> Conversation:
    """One conversation from its JSON object (the JSONL schema), for requests that carry a
    single conversation (``predict``, the HTTP service). Any problem raises ``DataError``."""

    def report(msg: str, reason: str = "", rows: int = 1) -> None:
        raise DataError(msg)

    log = ProblemLog(Path("<conversation>"), strict=True)
    dialogues = Dialogues(log)
    try:
        _conversation(obj, default_id, label_sets or {}, Path(base), report, dialogues, None, Repairs())
    except DataError as err:
        raise DataError(err.message) from None
    (conv,) = dialogues.conversations()
    return conv


@CORPORA.register("jsonl")
class JsonlReader(CorpusReader):
    name = "jsonl"
    description = "JSONL, one conversation per line (docs/data.md); the predict/serve input"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        text = read_text(path)
        log = ProblemLog(path, opts.strict)
        given = {opts.task: opts.label_set} if opts.label_set is not None else {}
        base = (opts.clips if opts.clips is not None else path.parent).resolve()
        dialogues = Dialogues(log)
        repairs = Repairs()
        ignored: Counter[str] = Counter()  # keys outside the format, reported with the counts
        for n, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                obj = loads(raw)
            except json.JSONDecodeError as exc:
                log.rows_read += 1
                log.report(n, f"invalid JSON: {exc.msg} (column {exc.colno})", "invalid_json")
                continue
            except (ValueError, RecursionError) as exc:
                log.rows_read += 1
                log.report(n, f"invalid JSON: {str(exc)[:120] or type(exc).__name__}", "invalid_json")
                continue
            utts = obj.get("utterances") if isinstance(obj, dict) else None
            log.rows_read += len(utts) if isinstance(utts, list) and utts else 1
            try:
                _conversation(obj, str(n), given, base, lambda msg, reason, rows, n=n: log.report(n, msg, reason, rows),
                              dialogues, n, repairs, ignored)
            except _Skip:
                continue

        utts = list(dialogues.utterances())
        label_sets: dict[str, LabelSet] = dict(given)
        tasks = dict.fromkeys(t for u in utts for t in u.labels)
        for task in tasks:
            if task not in label_sets:
                seen = {u.labels[task] for u in utts if task in u.labels}
                label_sets[task] = choose_label_set(task, seen, path.stem)
        for u in utts:
            u.labels = {t: label_sets[t].canonical(lab) for t, lab in u.labels.items()}
        corpus = finish(path.stem, dialogues, log, repairs, label_sets)
        corpus.ignored_keys = dict(ignored.most_common())
        return corpus


def conversation_to_dict(conv: Conversation) -> dict[str, Any]:
    """The JSONL object of one conversation (empty optional fields left out)."""
    utts = []
    for u in conv.utterances:
        d: dict[str, Any] = {"position": u.position, "speaker": u.speaker, "text": u.text}
        if u.labels:
            d["labels"] = dict(u.labels)
        for key in MEDIA_KEYS:
            if getattr(u, key):
                d[key] = getattr(u, key)
        for key in SPAN_KEYS:
            if getattr(u, key) is not None:
                d[key] = getattr(u, key)
        if u.meta:
            d["meta"] = dict(u.meta)
        utts.append(d)
    return {"dialogue_id": conv.dialogue_id, "utterances": utts}


def write_jsonl(conversations: Corpus | Iterable[Conversation], path: str | Path) -> Path:
    """Write conversations as JSONL, atomically (a reader never sees half a file)."""
    convs = conversations.conversations if isinstance(conversations, Corpus) else conversations
    lines = [json.dumps(conversation_to_dict(c), ensure_ascii=False) for c in convs]
    return atomic_write_text(path, "".join(line + "\n" for line in lines))
