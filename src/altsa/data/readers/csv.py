"""Generic CSV with a column mapping, and the EmoryNLP preset built on it.

Any conversation corpus in a CSV loads without code: name the dialogue, order, speaker,
text, label and media columns (``ColumnMapping``, or ``--dialogue-col`` ... on the CLI).
The dialogue may be a composite of columns written ``Season+Episode+Scene_ID``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

from altsa.data.readers._base import (
    CORPORA,
    MAPPINGS,
    MEDIA_ROLES,
    ColumnMapping,
    CorpusReader,
    Dialogues,
    ProblemLog,
    ReadOptions,
    Repairs,
    finish,
    media_path,
    open_csv,
    parse_span,
    parse_position,
    read_text,
    settle_labels,
)
from altsa.data.paths import shown
from altsa.data.schema import Corpus, LabelSet, Utterance, is_blank
from altsa.errors import DataError

_MAX_LITERAL = 2000  # longer "speaker lists" are kept verbatim rather than parsed


def parse_speaker(value: str) -> str:
    """EmoryNLP writes speakers as Python list literals (``['Rachel Green']``); join the
    names with ``", "``. ``ast.literal_eval`` evaluates literals only (no code), and
    anything that is not a list of strings is kept as written."""
    s = value.strip()
    if not (s.startswith("[") and s.endswith("]")) or len(s) > _MAX_LITERAL:
        return s
    try:
        parsed = ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return s
    if isinstance(parsed, (list, tuple)) and all(isinstance(x, str) for x in parsed):
        return ", ".join(x.strip() for x in parsed if x.strip())
    return s


@CORPORA.register("csv")
class CsvReader(CorpusReader):
    name = "csv"
    description = "any CSV with a column mapping (--mapping NAME, or --dialogue-col, --text-col, ...)"
    default_mapping: ClassVar[ColumnMapping | None] = None

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        mapping = opts.mapping or self.default_mapping or ColumnMapping()
        given: LabelSet | None = opts.label_set or mapping.label_set
        media_root = (opts.clips if opts.clips is not None else path.parent).resolve()
        log = ProblemLog(path, opts.strict)
        table = open_csv(path, read_text(path), log, mapping.delimiter)
        header = table.header
        col = mapping.resolve(header, path)
        if opts.clips is not None and not any(r in col for r in MEDIA_ROLES):
            raise DataError("a clip folder needs a media column in the mapping (--media-col)", path=path)
        names = mapping.names(header, col)
        dcols = col.get("dialogue", [])
        single = {role: idx[0] for role, idx in col.items() if role != "dialogue"}
        mapped = {i for idx in col.values() for i in idx}
        meta_cols = {h: i for i, h in enumerate(header) if i not in mapped and h}

        dialogues = Dialogues(log)
        repairs = Repairs()
        for line, row in table.rows:
            if len(row) != len(header):
                log.report(line, f"row has {len(row)} fields, the header has {len(header)}", "malformed_row")
                continue
            text = row[single["text"]] if "text" in single else ""
            speaker = parse_speaker(row[single["speaker"]]) if "speaker" in single else ""
            (text, speaker), kinds = repairs.fix((text, speaker))
            if dcols:
                if not all(row[i].strip() for i in dcols):
                    log.report(line, f"empty dialogue id (column {names['dialogue']})", "empty_dialogue_id")
                    continue
                dialogue = "/".join(row[i].strip() for i in dcols)
            else:
                dialogue = str(line)  # dialogue: none -> one conversation per row
            if "order" in single:
                position = parse_position(row[single["order"]])
                if position is None:
                    log.report(line, f"{names['order']} must be an integer, got {shown(repr(row[single['order']]))}", "bad_order")
                    continue
            else:
                position = dialogues.next_position(dialogue)
            paths = {r: media_path(row[single[r]].strip(), media_root) if r in single else None for r in MEDIA_ROLES}
            try:
                start, end = parse_span(row[single["start"]] if "start" in single else None,
                                        row[single["end"]] if "end" in single else None)
            except ValueError as err:
                log.report(line, f"span: {err}", "bad_span")
                continue
            if is_blank(text) and not any(paths.values()):
                what = f"empty text (column {names['text']})" if "text" in single else "no text column"
                log.report(line, f"{what} and no media path", "empty_text")
                continue
            labels = {}
            if "label" in single:
                (label,), lkinds = repairs.fix((row[single["label"]],))
                kinds |= lkinds
                if not label:
                    log.report(line, f"empty label (column {names['label']})", "empty_label")
                    continue
                if given is not None:
                    try:
                        label = given.canonical(label)
                    except DataError as err:
                        log.report(line, err.message, "unknown_label")
                        continue
                labels[mapping.task] = label
            utt = Utterance(
                dialogue_id=dialogue,
                position=position,
                speaker=speaker,
                text=text,
                labels=labels,
                meta={h: row[i].strip() for h, i in meta_cols.items()},
                start=start,
                end=end,
                **paths,
            )
            if dialogues.add(utt, line):
                repairs.keep(kinds)

        label_sets = settle_labels(dialogues.utterances(), mapping.task, given, path.stem) if "label" in single else {}
        corpus = finish(path.stem, dialogues, log, repairs, label_sets)
        corpus.columns = names
        return corpus


@CORPORA.register("emorynlp")
class EmoryNlpReader(CsvReader):
    name = "emorynlp"
    description = "EmoryNLP CSV as published with MELD (Scene_ID dialogues, ['Name'] speakers)"
    default_mapping = MAPPINGS["emorynlp"]
