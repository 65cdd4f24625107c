"""Media files as a corpus: one clip, or a folder of clips, each a one-utterance conversation.

    read_corpus("clip.wav")           # format "clips", detected from the suffix
    read_corpus("recordings/")        # every media file under the folder, sorted by path

An utterance has no transcript (text ``not_provided``) and no label; audio files
(``AUDIO_SUFFIXES``) give its ``audio``, video files (``VIDEO_SUFFIXES``, which may also hold
an audio track) its ``media``. The dialogue id is the file's name (its path relative to the
folder), so predictions name the file they are about. Other files in a folder are not
utterances; ``Corpus.ignored_files`` counts them.
"""

from __future__ import annotations

from pathlib import Path

from altsa.data.paths import input_path
from altsa.data.readers._base import CORPORA, CorpusReader, Dialogues, ProblemLog, ReadOptions, Repairs, finish
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


@CORPORA.register("clips")
class ClipsReader(CorpusReader):
    name = "clips"
    description = "a media file or a folder of them (audio/video, no transcript): one utterance each"

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        path = input_path(path)
        if path.is_dir():
            files, ignored = media_files(path)
            if not files:
                raise DataError(
                    f"no media files in this folder (looked for {', '.join(sorted(MEDIA_SUFFIXES))})", path=path
                )
            names = [str(f.relative_to(path)) for f in files]
        else:  # a regular file (input_path refuses anything else)
            if not is_media_file(path):
                raise DataError(f"not a media file (suffix {path.suffix or 'none'})", path=path)
            files, ignored, names = [path], 0, [path.name]
        log = ProblemLog(path, opts.strict)
        dialogues = Dialogues(log)
        for file, name in zip(files, names):
            log.rows_read += 1
            audio_only = file.suffix.casefold() in AUDIO_SUFFIXES
            source = str(file.resolve())
            utt = Utterance(
                dialogue_id=name,
                position=0,
                speaker="",
                text="",
                audio=source if audio_only else None,
                media=None if audio_only else source,
            )
            dialogues.add(utt, None)
        corpus = finish(path.stem if path.is_file() else path.name, dialogues, log, Repairs(), {})
        corpus.ignored_files = ignored
        return corpus
