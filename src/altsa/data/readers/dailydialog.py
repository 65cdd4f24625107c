"""DailyDialog as published (Li et al. 2017, ``ijcnlp_dailydialog``): a text file with one
dialogue per line, its utterances ended by ``__eou__`` (``dialogues_text.txt``, or a split's
``dialogues_train.txt`` / ``dialogues_validation.txt`` / ``dialogues_test.txt``), and beside it
the emotion file with one label id per utterance on the same line (``dialogues_emotion.txt``,
``dialogues_emotion_train.txt``, ...).

Label ids 0-6 are ``neutral`` (published as "no emotion"), ``anger``, ``disgust``, ``fear``,
``happiness``, ``sadness``, ``surprise`` (the ``dailydialog-emotion`` set). The dialogues are
dyadic and name no speakers: the turns alternate, ``A`` then ``B``. A dialogue is named by its
line number. A line whose label count differs from its utterance count is skipped whole
(``malformed_row``, its utterances counted): which label belongs to which turn is unknown. The
two files pair line by line; files with different line counts are an error (a line more or
less in one would give every later turn another turn's label).
"""

from __future__ import annotations

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
from altsa.data.schema import DAILYDIALOG_EMOTION, Corpus, LabelSet, Utterance, is_blank
from altsa.errors import DataError

EOU = "__eou__"


def emotion_file(path: Path) -> Path:
    """The emotion file of a dialogues file: ``dialogues_text.txt`` -> ``dialogues_emotion.txt``,
    ``dialogues_train.txt`` -> ``dialogues_emotion_train.txt``."""
    stem = path.stem
    rest = stem[len("dialogues_"):] if stem.startswith("dialogues_") else stem
    name = "dialogues_emotion.txt" if rest == "text" else f"dialogues_emotion_{rest}.txt"
    return path.with_name(name)


def looks_like(path: Path, head: str) -> bool:
    return path.name.startswith("dialogues_") and path.suffix == ".txt" and EOU in head


@CORPORA.register("dailydialog")
class DailyDialogReader(CorpusReader):
    name = "dailydialog"
    description = "DailyDialog as published (dialogues_*.txt with __eou__, labels in dialogues_emotion*.txt)"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        if opts.clips is not None:
            raise DataError("DailyDialog names no media: it has no clips to find (drop --clips)", path=path)
        labels_path = emotion_file(path)
        kind, why = path_kind(labels_path)
        if kind == "missing":
            raise DataError(f"no emotion file {labels_path.name} beside it (DailyDialog's labels)", path=path)
        if kind != "file":
            raise DataError(f"the emotion file {labels_path.name}: {why or 'not a file'}", path=path)
        texts, ids = physical_lines(read_text(path)), physical_lines(read_text(labels_path))
        if len(texts) != len(ids):  # line N of one is line N of the other: a line more or less shifts them all
            raise DataError(f"{len(texts):,} lines, but {labels_path.name} beside it has {len(ids):,}: the files "
                            "pair line by line, so every label after the difference would be another turn's", path=path)
        log = ProblemLog(path, opts.strict)
        given: LabelSet = opts.label_set or DAILYDIALOG_EMOTION
        dialogues, repairs = Dialogues(log), Repairs()
        for n, line in enumerate(texts, start=1):
            codes = ids[n - 1].split()
            if not line.strip():
                if codes:
                    log.rows_read += 1
                    log.report(n, f"an empty line, but {len(codes)} label(s) on line {n} of {labels_path.name}",
                               "malformed_row")
                continue
            turns = [t.strip() for t in line.split(EOU)]
            if turns and not turns[-1]:
                turns.pop()  # the line ends with __eou__
            log.rows_read += max(1, len(turns))
            if len(codes) != len(turns):
                log.report(n, f"{len(turns)} utterance(s) but {len(codes)} label(s) on line {n} of {labels_path.name}",
                           "malformed_row", max(1, len(turns)))
                continue
            dialogue = str(n)
            dialogues.open(dialogue)
            for position, (text, code) in enumerate(zip(turns, codes)):
                if not (code.isascii() and code.isdigit() and int(code) < len(DAILYDIALOG_EMOTION.labels)):
                    log.report(n, f"utterance {position}: label id {shown(repr(code), 40)} (line {n} of "
                               f"{labels_path.name}) is not 0-6", "unknown_label")
                    continue
                try:  # the published name of the id, in the set asked for (default: the published set)
                    label = given.canonical(DAILYDIALOG_EMOTION.labels[int(code)])
                except DataError as err:
                    log.report(n, f"utterance {position}: {err.message}", "unknown_label")
                    continue
                (text,), kinds = repairs.fix((text,))
                if is_blank(text):
                    log.report(n, f"utterance {position}: empty text", "empty_text")
                    continue
                utt = Utterance(dialogue_id=dialogue, position=position, speaker="AB"[position % 2], text=text,
                                labels={opts.task: label})
                if dialogues.add(utt, n):
                    repairs.keep(kinds)
        return finish(path.stem, dialogues, log, repairs,
                      settle_labels(dialogues.utterances(), opts.task, given, path.stem), numeric_order=True)
