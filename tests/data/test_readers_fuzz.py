"""Readers on random input: a Corpus or a DataError, never any other exception; every row
read is either kept or counted as skipped."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from altsa.data.readers import ColumnMapping, read_corpus
from altsa.data.schema import Corpus
from altsa.errors import DataError

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MELD_COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
                "Season", "Episode", "StartTime", "EndTime"]


def _read_all_ways(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        for kwargs in (
            {},
            {"format": "meld"},
            {"format": "emorynlp"},
            {"format": "jsonl"},
            {"mapping": ColumnMapping()},
            {"mapping": ColumnMapping(dialogue="a+b", order="c", label="d", media="e")},
        ):
            for strict in (False, True):
                try:
                    result = read_corpus(path, strict=strict, **kwargs)
                except DataError as err:
                    assert "\n" not in err.message
                    continue
                assert isinstance(result, Corpus)
                for conv in result.conversations:  # every utterance has something to read
                    assert conv.utterances and all(u.text or u.media or u.audio or u.video for u in conv)
                counts = result.counts()  # nothing dropped silently: every row read is kept or skipped
                assert counts["read"] == counts["kept"] + counts["skipped"], (counts, result.problems)


@PROPS
@given(st.binary(max_size=400))
def test_random_bytes(content: bytes) -> None:
    _read_all_ways("x.csv", content)


@PROPS
@given(st.text(alphabet=st.sampled_from(list(',"\n\r\t ab1[]\'{}:é’\x00\x85')), max_size=300))
def test_random_csv_like_text(text: str) -> None:
    _read_all_ways("y.csv", text.encode("utf-8"))


_CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["joy", "Neutral", "", "0", "1", "-3", "x", "['A']", "[", "Ã©", "positive"]),
)


@PROPS
@given(st.lists(st.lists(_CELL, min_size=0, max_size=13), max_size=12), st.booleans())
def test_random_rows_under_a_meld_header(rows: list[list[str]], with_header: bool) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    if with_header:
        writer.writerow(MELD_COLUMNS)
    writer.writerows(rows)
    _read_all_ways("dev_sent_emo.csv", buf.getvalue().encode("utf-8"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["dialogue_id", "utterances", "speaker", "text", "position", "labels", "emotion",
                         "media", "meta", "x"]),
        inner,
        max_size=5,
    ),
    max_leaves=20,
)


@PROPS
@given(st.lists(_JSON, max_size=5))
def test_random_jsonl(objs: list) -> None:
    _read_all_ways("z.jsonl", "\n".join(json.dumps(o) for o in objs).encode("utf-8"))
