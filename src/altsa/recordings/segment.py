"""From speech regions and timed words to utterances (pure functions, no models).

An utterance is a stretch of speech by one speaker with no pause longer than the VAD's
``min_pause_s``: each VAD region is cut at Whisper's segment boundaries (roughly
sentences) into pieces, each piece gets a speaker, and consecutive pieces of one region
with the same speaker join again. Two regions never join: the pause between them is the
boundary a listener hears.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from altsa.recordings.asr import Word


@dataclass
class Piece:
    """Words of one region that belong to one Whisper segment (a speaker-change candidate)."""

    region: int
    words: list[Word] = field(default_factory=list)
    speaker: int = 0

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end


@dataclass
class Span:
    """One utterance: its speaker index, words and time span (seconds)."""

    start: float
    end: float
    speaker: int
    words: list[Word]

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()


def assign_regions(words: list[Word], regions: list[tuple[float, float]]) -> list[int]:
    """The region of each word: the one holding its midpoint, else the nearest one."""
    out = []
    for w in words:
        mid = (w.start + w.end) / 2
        best, gap = 0, float("inf")
        for i, (lo, hi) in enumerate(regions):
            d = 0.0 if lo <= mid <= hi else min(abs(mid - lo), abs(mid - hi))
            if d < gap:
                best, gap = i, d
                if d == 0.0:
                    break
        out.append(best)
    return out


def pieces(words: list[Word], regions: list[tuple[float, float]]) -> list[Piece]:
    """Words grouped by (region, Whisper segment), in time order, each word's times clamped
    into its region (Whisper may stretch a turn's first word back over the pause before
    it). Regions without a word give no piece (noise, music, breath the VAD took for speech)."""
    if not words or not regions:
        return []
    out: list[Piece] = []
    for word, region in zip(words, assign_regions(words, regions)):
        lo, hi = regions[region]
        start = min(max(word.start, lo), hi)
        word = dataclasses.replace(word, start=start, end=min(max(word.end, start), hi))
        if not out or out[-1].region != region or out[-1].words[-1].segment != word.segment:
            out.append(Piece(region))
        out[-1].words.append(word)
    return out


def spans(parts: list[Piece], regions: list[tuple[float, float]]) -> list[Span]:
    """Consecutive pieces of one region with one speaker -> one utterance. Its times are its
    words' times, widened to the region's edges where it starts or ends the region (the
    VAD hears the first and last phonemes better than Whisper's word timing places them)."""
    out: list[Span] = []
    last_region = -1
    for p in parts:
        if out and p.region == last_region and p.speaker == out[-1].speaker:
            out[-1].words.extend(p.words)
            out[-1].end = max(out[-1].end, p.end)
        else:
            out.append(Span(p.start, p.end, p.speaker, list(p.words)))
        last_region = p.region
    # region edges
    first_of: dict[int, int] = {}
    last_of: dict[int, int] = {}
    for i, p in enumerate(_span_regions(out, parts)):
        first_of.setdefault(p, i)
        last_of[p] = i
    for region, i in first_of.items():
        out[i].start = min(out[i].start, regions[region][0])
    for region, i in last_of.items():
        out[i].end = max(out[i].end, regions[region][1])
    return out


def _span_regions(out: list[Span], parts: list[Piece]) -> list[int]:
    """The region of each span (the region of its first word's piece)."""
    region_of = {id(w): p.region for p in parts for w in p.words}
    return [region_of[id(s.words[0])] for s in out]
