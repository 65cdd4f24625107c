"""Media files as a corpus: one clip, or a folder of clips, each a one-utterance conversation.

    read_corpus("clip.wav")           # format "clips", detected from the suffix
    read_corpus("recordings/")        # every media file under the folder, sorted by path

An utterance has no transcript (text ``not_provided``); audio files (``AUDIO_SUFFIXES``) give
its ``audio``, video files (``VIDEO_SUFFIXES``, which may also hold an audio track) its
``media``. The dialogue id is the file's name (its path relative to the folder), so
predictions name the file they are about. Other files in a folder are not utterances;
``Corpus.ignored_files`` counts them.

Speech corpora name the emotion in the file name (EmoDB ``03a01Wa.wav``: W, anger; RAVDESS
``03-01-05-01-02-01-12.wav``: 05, angry; CREMA-D ``1001_DFA_ANG_XX.wav``). With a name pattern
(``data.name_pattern``: a regular expression searched in each file's name, its ``label`` group
the label, an optional ``speaker`` group the speaker) every clip is labelled from its name;
a clip whose name does not match is skipped and counted (``name_unmatched``), one whose label
is outside the label set too (``unknown_label``). Without a pattern, clips carry no label.
"""

from __future__ import annotations

import os
from pathlib import Path

from altsa.data.paths import input_path
from altsa.data.readers._base import (
    CORPORA,
    CorpusReader,
    Dialogues,
    ProblemLog,
    ReadOptions,
    Repairs,
    finish,
    settle_labels,
)
from altsa.data.schema import Corpus, Utterance
from altsa.errors import DataError

AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"})
MEDIA_SUFFIXES = AUDIO_SUFFIXES | VIDEO_SUFFIXES


def is_media_file(path: str | Path) -> bool:
    return Path(path).suffix.casefold() in MEDIA_SUFFIXES


def media_files(folder: Path) -> tuple[list[Path], int]:
    """Media files under ``folder`` (recursive, sorted, hidden ones left out) and how many
    other files there were."""
    found, other = [], 0
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if is_media_file(p):
            found.append(p)
        else:
            other += 1
    return found, other


def _entries(root: Path, only: tuple[Path, ...]) -> tuple[list[Path], int]:
    """The media files of ``only`` (files, and folders' media files) under ``root``, in that
    order, and how many other files they named: a split of a folder corpus (EmoDB's speakers)."""
    found, other = [], 0
    for entry in only:
        entry = input_path(entry)
        # one spelling per clip whatever the entry's (absolute, with ..), so a clip two entries
        # name is one duplicate, not two utterances; abspath, not resolve: a symlinked clip stays
        full, base = Path(os.path.abspath(entry)), Path(os.path.abspath(root))
        if not full.is_relative_to(base):
            raise DataError(f"not under the corpus folder {root}", path=entry)
        entry = root / full.relative_to(base)
        if entry.is_dir():
            files, more = media_files(entry)
            found += files
            other += more
        elif is_media_file(entry):
            found.append(entry)
        else:
            other += 1
    return found, other


@CORPORA.register("clips")
class ClipsReader(CorpusReader):
    name = "clips"
    description = ("a media file or a folder of them (audio/video, no transcript): one utterance each, labelled "
                   "from its file name with data.name_pattern")

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        path = input_path(path)
        if path.is_dir():
            files, ignored = media_files(path) if opts.only is None else _entries(path, opts.only)
            if not files:
                raise DataError(
                    f"no media files in this folder (looked for {', '.join(sorted(MEDIA_SUFFIXES))})", path=path
                )
            names = [f.relative_to(path).as_posix() for f in files]
        else:  # a regular file (input_path refuses anything else)
            if not is_media_file(path):
                raise DataError(f"not a media file (suffix {path.suffix or 'none'})", path=path)
            files, ignored, names = [path], 0, [path.name]
        log = ProblemLog(path, opts.strict)
        dialogues = Dialogues(log)
        for file, name in zip(files, names):
            log.rows_read += 1
            labels, speaker = self._from_name(file, opts, log)
            if labels is None:
                continue
            audio_only = file.suffix.casefold() in AUDIO_SUFFIXES
            source = str(file.resolve())
            utt = Utterance(
                dialogue_id=name,
                position=0,
                speaker=speaker,
                text="",
                audio=source if audio_only else None,
                media=None if audio_only else source,
                labels=labels,
            )
            dialogues.add(utt, None)
        name = path.stem if path.is_file() else path.resolve().name
        label_sets = settle_labels(dialogues.utterances(), opts.task, opts.label_set, name)
        corpus = finish(name, dialogues, log, Repairs(), label_sets)
        corpus.ignored_files = ignored
        return corpus

    @staticmethod
    def _from_name(file: Path, opts: ReadOptions, log: ProblemLog) -> tuple[dict[str, str] | None, str]:
        """({task: label} from the file's name, speaker); ({}, "") without a pattern; (None, "")
        when the clip is skipped (reported)."""
        if opts.name_pattern is None:
            return {}, ""
        m = opts.name_pattern.search(file.name)
        label = (m.group("label") or "").strip() if m else ""
        if not label:
            log.report(None, f"the file name {file.name!r} does not match data.name_pattern "
                       f"'{opts.name_pattern.pattern}'", "name_unmatched", path=file)
            return None, ""
        if opts.label_set is not None:
            try:
                label = opts.label_set.canonical(label)
            except DataError as err:
                log.report(None, f"{err.message} (from the file name {file.name!r})", "unknown_label", path=file)
                return None, ""
        speaker = (m.groupdict().get("speaker") or "").strip()
        return {opts.task: label}, speaker
