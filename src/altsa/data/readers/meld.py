"""MELD's official CSVs (``train_sent_emo.csv``, ``dev_sent_emo.csv``, ``test_sent_emo.csv``).

Utterances are ordered by ``Utterance_ID``, which has gaps (72 train dialogues): it is a
sort key, never an index. Clips are ``dia{D}_utt{U}.mp4`` in the split's folder of
MELD.Raw (``train_splits/``, ``dev_splits_complete/``, ``output_repeated_splits_test/``).
"""

from __future__ import annotations

import re
from pathlib import Path

from altsa.data.readers._base import (
    CORPORA,
    CorpusReader,
    Dialogues,
    ProblemLog,
    ReadOptions,
    Repairs,
    column_index,
    finish,
    open_csv,
    parse_position,
    read_text,
)
from altsa.data.schema import MELD_EMOTION, MELD_SENTIMENT, Corpus, Utterance
from altsa.data.paths import shown
from altsa.errors import DataError

REQUIRED = {
    "text": "Utterance",
    "speaker": "Speaker",
    "emotion": "Emotion",
    "sentiment": "Sentiment",
    "dialogue": "Dialogue_ID",
    "order": "Utterance_ID",
}
META = {"sr_no": "Sr No.", "season": "Season", "episode": "Episode", "start": "StartTime", "end": "EndTime"}
SPLIT_DIRS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
_SPLIT_ALIASES = {"val": "dev", "valid": "dev", "validation": "dev"}
_SPLIT_IN_NAME = re.compile(r"(?<![a-z])(train|dev|val|test)(?![a-z])")


def infer_split(path: Path) -> str | None:
    """``train``/``dev``/``test`` from a file name such as ``dev_sent_emo.csv``."""
    m = _SPLIT_IN_NAME.search(path.stem.casefold().replace("_", " "))
    if m is None:
        return None
    return "dev" if m.group(1) == "val" else m.group(1)


def clip_folder(clips: Path, split: str | None, path: Path) -> Path:
    """The folder holding this split's clips: ``clips/<split folder>`` when it exists,
    else ``clips`` itself (a user may point straight at the split folder)."""
    if split is None:
        raise DataError(
            "cannot tell the MELD split from the file name; pass split= (--split train|dev|test)", path=path
        )
    if split not in SPLIT_DIRS:
        raise DataError(f"unknown MELD split {split!r}; expected one of: {', '.join(SPLIT_DIRS)}", path=path)
    if not clips.is_dir():
        raise DataError("clip folder not found", path=clips)
    sub = clips / SPLIT_DIRS[split]
    return (sub if sub.is_dir() else clips).resolve()


@CORPORA.register("meld")
class MeldReader(CorpusReader):
    name = "meld"
    description = "MELD official CSV (Dialogue_ID, Utterance_ID, Emotion, Sentiment, ...); clips via --clips"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        if opts.label_set is not None and opts.label_set not in (MELD_EMOTION, MELD_SENTIMENT):
            raise DataError("MELD's label sets are fixed; a label set applies to the csv and jsonl formats", path=path)
        log = ProblemLog(path, opts.strict)
        table = open_csv(path, read_text(path), log)
        header = table.header
        col = column_index(header, REQUIRED, path)
        meta_cols = {k: i for k, i in column_index_optional(header, META).items()}
        split = opts.split or infer_split(path)
        split = _SPLIT_ALIASES.get(split, split) if split else None
        folder = clip_folder(opts.clips, split, path) if opts.clips is not None else None

        dialogues = Dialogues(log)
        repairs = Repairs()
        for line, row in table.rows:
            if len(row) != len(header):
                log.report(line, f"row has {len(row)} fields, the header has {len(header)}", "malformed_row")
                continue
            (text, speaker), kinds = repairs.fix((row[col["text"]], row[col["speaker"]]))
            dialogue = row[col["dialogue"]].strip()
            position = parse_position(row[col["order"]])
            if not dialogue:
                log.report(line, "empty Dialogue_ID", "empty_dialogue_id")
                continue
            if position is None:
                log.report(line, f"Utterance_ID must be an integer, got {shown(repr(row[col['order']]))}", "bad_order")
                continue
            if not text:
                log.report(line, "empty text (Utterance)", "empty_text")
                continue
            try:
                labels = {
                    "emotion": MELD_EMOTION.canonical(row[col["emotion"]]),
                    "sentiment": MELD_SENTIMENT.canonical(row[col["sentiment"]]),
                }
            except DataError as err:
                log.report(line, err.message, "unknown_label")
                continue
            utt = Utterance(
                dialogue_id=dialogue,
                position=position,
                speaker=speaker,
                text=text,
                labels=labels,
                meta={k: row[i].strip() for k, i in meta_cols.items()},
                media=str(folder / f"dia{dialogue}_utt{position}.mp4") if folder is not None else None,
            )
            if dialogues.add(utt, line):
                repairs.keep(kinds)
        name = f"meld-{split}" if split else "meld"
        label_sets = {"emotion": MELD_EMOTION, "sentiment": MELD_SENTIMENT}
        return finish(name, dialogues, log, repairs, label_sets, numeric_order=True)


def column_index_optional(header: list[str], columns: dict[str, str]) -> dict[str, int]:
    """Key -> column position for the optional columns present in the header."""
    pos = {h: i for i, h in reversed(list(enumerate(header)))}
    return {key: pos[col] for key, col in columns.items() if col in pos}
