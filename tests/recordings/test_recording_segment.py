"""Regions + timed words -> pieces -> utterances, and Whisper's joined-audio times mapped back
(pure functions on hand-made inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from altsa.recordings import segment
from altsa.recordings.asr import GAP_S, Word, _join, _unjoin


def words(*items: tuple[float, float, str, int]) -> list[Word]:
    return [Word(a, b, t, 0.9, k) for a, b, t, k in items]


REGIONS = [(0.4, 3.1), (4.0, 8.2), (9.0, 9.6)]  # seconds
WORDS = words(
    (0.5, 0.8, " Hello", 0), (0.8, 1.2, " there.", 0), (1.4, 1.9, " How", 1), (1.9, 3.0, " are you?", 1),
    (4.1, 4.5, " Fine,", 2), (4.5, 5.0, " thanks.", 2), (5.6, 6.0, " And", 3), (6.0, 8.1, " you?", 3),
)


def test_words_go_to_the_region_holding_their_middle_or_the_nearest():
    assert segment.assign_regions(WORDS, REGIONS) == [0, 0, 0, 0, 1, 1, 1, 1]
    stray = words((3.3, 3.5, " um", 0), (3.7, 3.95, " so", 0))
    assert segment.assign_regions(stray, REGIONS) == [0, 1]  # 3.4 is nearer 3.1; 3.825 nearer 4.0


def test_pieces_split_at_regions_and_whisper_segments():
    parts = segment.pieces(WORDS, REGIONS)
    assert [(p.region, "".join(w.text for w in p.words)) for p in parts] == [
        (0, " Hello there."), (0, " How are you?"), (1, " Fine, thanks."), (1, " And you?")]
    # a Whisper segment running across a pause is cut at the region boundary
    across = words((0.5, 1.0, " one", 0), (4.1, 4.4, " two", 0))
    assert [p.region for p in segment.pieces(across, REGIONS)] == [0, 1]
    # a word stretched back over the pause keeps to its region: (3.0 + 4.9) / 2 is in region 1
    stretched = segment.pieces(words((3.0, 4.9, " Yes,", 0)), REGIONS)
    assert (stretched[0].region, stretched[0].start, stretched[0].end) == (1, 4.0, 4.9)
    assert segment.pieces([], REGIONS) == [] and segment.pieces(WORDS, []) == []


def test_spans_join_one_speakers_pieces_within_a_region_only():
    parts = segment.pieces(WORDS, REGIONS)
    for p, who in zip(parts, [0, 0, 1, 0]):  # region 1 holds a speaker change
        p.speaker = who
    spans = segment.spans(parts, REGIONS)
    assert [(s.speaker, s.text) for s in spans] == [(0, "Hello there. How are you?"), (1, "Fine, thanks."), (0, "And you?")]
    # times: words' times, widened to the region's edges at its first and last utterance
    assert [(s.start, s.end) for s in spans] == [(0.4, 3.1), (4.0, 5.0), (5.6, 8.2)]
    # the same speaker in two regions: two utterances (the pause separates them)
    for p in parts:
        p.speaker = 0
    assert [s.text for s in segment.spans(parts, REGIONS)] == ["Hello there. How are you?", "Fine, thanks. And you?"]


def test_join_and_unjoin_map_times_back_to_the_recording():
    rate = 100
    wave = np.arange(1000, dtype=np.float32)
    regions = [(100, 300), (500, 550), (800, 900)]
    audio, offsets = _join(wave, regions, rate)
    gap = int(GAP_S * rate)
    assert offsets == [(0, 100, 200), (200 + gap, 500, 50), (250 + 2 * gap, 800, 100)]
    assert audio.size == 350 + 2 * gap
    np.testing.assert_array_equal(audio[:200], wave[100:300])
    np.testing.assert_array_equal(audio[200:200 + gap], 0)
    np.testing.assert_array_equal(audio[200 + gap:250 + gap], wave[500:550])
    assert _unjoin(0.5, offsets, rate) == pytest.approx(1.5)  # 50 samples into region 0
    assert _unjoin((200 + gap + 10) / rate, offsets, rate) == pytest.approx(5.1)
    in_gap = (200 + gap / 2) / rate
    assert _unjoin(in_gap, offsets, rate) == pytest.approx(5.0)  # a start in the gap: next region's start
    assert _unjoin(in_gap, offsets, rate, end=True) == pytest.approx(3.0)  # an end: previous region's end
    assert _unjoin(10.0, offsets, rate) == pytest.approx(9.0)  # past the end: the last region's end
