"""The feature cache: aligned loads, reuse, invalidation by fingerprint and input, resume, absences."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

from altsa.data.media import MediaConfig, decode_audio, decode_video
from altsa.data.schema import Conversation, Corpus, Utterance
from altsa.encoders import EncoderConfig, build_encoder
from altsa.errors import DataError
from altsa.features import FeatureCache, extract, load_features


class Counting:
    """A real encoder, counting the utterances it is asked to encode (and failing on demand)."""

    def __init__(self, inner: Any, fail_after_calls: int | None = None):
        self.inner = inner
        self.calls = 0
        self.items = 0
        self.fail_after_calls = fail_after_calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, items: list) -> torch.Tensor:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-run
        self.calls += 1
        self.items += len(items)
        return self.inner.encode(items)


def text_encoder(model: Path, **kw: Any) -> Any:
    return build_encoder(EncoderConfig(kind="hf-text", model=str(model), **{"max_length": 64, **kw}))


def test_extract_then_load_is_aligned_to_the_corpus(tiny_roberta: Path, tmp_path: Path, corpus_factory) -> None:
    corpus = corpus_factory(5, 4)
    enc = text_encoder(tiny_roberta)
    table = extract(corpus, enc, tmp_path, batch_size=3, shard_size=5, progress=False)
    assert table.keys == [u.key for u in corpus.utterances()]
    assert table.present.all() and table.reasons == [""] * 20
    expected = torch.cat([enc.encode(enc.build_inputs(c)) for c in corpus.conversations])
    assert torch.allclose(table.vectors, expected, atol=1e-5)
    again = load_features(tmp_path, corpus, enc)
    assert torch.equal(again.vectors, table.vectors)
    by_fingerprint = load_features(tmp_path, corpus, enc.fingerprint)  # no encoder needed
    assert torch.equal(by_fingerprint.vectors, table.vectors) and by_fingerprint.keys == table.keys
    folder = FeatureCache(tmp_path, "text", enc.fingerprint).path
    assert len(list(folder.glob("shard-*.safetensors"))) == 4  # 20 utterances, a shard per 5 (+ a partial batch)
    assert (folder / "index.json").is_file() and (folder / "meta.json").is_file()


def test_same_settings_reuse_the_cache_without_encoder_calls(
    tiny_roberta: Path, tmp_path: Path, corpus_factory
) -> None:
    corpus = corpus_factory(4, 3)
    first = Counting(text_encoder(tiny_roberta))
    table = extract(corpus, first, tmp_path, progress=False)
    assert first.items == 12
    second = Counting(text_encoder(tiny_roberta))
    again = extract(corpus, second, tmp_path, progress=False)
    assert second.calls == 0 and torch.equal(again.vectors, table.vectors)


def test_a_changed_setting_never_reuses_stale_vectors(tiny_roberta: Path, tmp_path: Path, corpus_factory) -> None:
    corpus = corpus_factory(4, 6)
    long = text_encoder(tiny_roberta, max_length=64)
    table_long = extract(corpus, long, tmp_path, progress=False)
    short = Counting(text_encoder(tiny_roberta, max_length=12))
    table_short = extract(corpus, short, tmp_path, progress=False)
    assert short.items == 24  # recomputed, all of it
    assert not torch.allclose(table_short.vectors, table_long.vectors)
    assert len(list((tmp_path / "text").iterdir())) == 2  # one folder per fingerprint
    assert torch.equal(load_features(tmp_path, corpus, long).vectors, table_long.vectors)  # old one intact
    plain = Counting(text_encoder(tiny_roberta, options={"speaker_format": "plain"}))
    extract(corpus, plain, tmp_path, progress=False)
    assert plain.items == 24


def test_an_edited_utterance_recomputes_only_the_inputs_that_contain_it(
    tiny_roberta: Path, tmp_path: Path, corpus_factory
) -> None:
    corpus = corpus_factory(3, 5)
    extract(corpus, text_encoder(tiny_roberta), tmp_path, progress=False)
    corpus.conversations[1].utterances[2].text = "Something else entirely."
    enc = Counting(text_encoder(tiny_roberta))
    table = extract(corpus, enc, tmp_path, progress=False)
    assert enc.items == 3  # context mode: utterances 2, 3, 4 of dialogue 1 read the edit
    fresh = extract(corpus, text_encoder(tiny_roberta), tmp_path / "fresh", progress=False)
    assert torch.allclose(table.vectors, fresh.vectors, atol=1e-5)


def test_the_same_key_in_two_splits_keeps_both(tiny_roberta: Path, tmp_path: Path, corpus_factory) -> None:
    train, dev = corpus_factory(3, 3, seed=1, name="train"), corpus_factory(3, 3, seed=2, name="dev")
    assert [u.key for u in train.utterances()] == [u.key for u in dev.utterances()]  # MELD: ids restart per split
    enc = text_encoder(tiny_roberta)
    t = extract(train, enc, tmp_path, progress=False)
    d = extract(dev, enc, tmp_path, progress=False)
    assert not torch.allclose(t.vectors, d.vectors)
    assert torch.equal(load_features(tmp_path, train, enc).vectors, t.vectors)
    assert torch.equal(load_features(tmp_path, dev, enc).vectors, d.vectors)


def test_missing_features_say_to_run_altsa_extract(tiny_roberta: Path, tmp_path: Path, corpus_factory) -> None:
    enc = text_encoder(tiny_roberta)
    with pytest.raises(DataError, match="run `altsa extract"):
        load_features(tmp_path, corpus_factory(2, 2), enc)
    extract(corpus_factory(2, 3), enc, tmp_path, progress=False)  # the first half of the next corpus
    with pytest.raises(DataError, match=r"6 of 12 utterances .* run `altsa extract"):
        load_features(tmp_path, corpus_factory(4, 3), enc)
    with pytest.raises(DataError, match="no cached features for this encoder fingerprint"):
        load_features(tmp_path, corpus_factory(2, 2), "not-a-fingerprint")


def test_an_interrupted_run_keeps_its_work_and_resumes(tiny_roberta: Path, tmp_path: Path, corpus_factory) -> None:
    corpus = corpus_factory(6, 5)  # 30 utterances
    failing = Counting(text_encoder(tiny_roberta), fail_after_calls=3)
    with pytest.raises(KeyboardInterrupt):
        extract(corpus, failing, tmp_path / "a", batch_size=4, shard_size=8, progress=False)
    cached = len(FeatureCache(tmp_path / "a", "text", failing.fingerprint).entries())
    assert cached == 12  # 3 finished batches: one full shard plus the flushed partial one
    rest = Counting(text_encoder(tiny_roberta))
    resumed = extract(corpus, rest, tmp_path / "a", batch_size=4, shard_size=8, progress=False)
    assert rest.items == 30 - 12
    whole = extract(corpus, text_encoder(tiny_roberta), tmp_path / "b", batch_size=4, shard_size=8, progress=False)
    assert torch.equal(resumed.vectors, whole.vectors)


def test_shards_carry_their_ids_so_a_lost_index_loses_nothing(
    tiny_roberta: Path, tmp_path: Path, corpus_factory
) -> None:
    corpus = corpus_factory(4, 4)
    enc = text_encoder(tiny_roberta)
    table = extract(corpus, enc, tmp_path, shard_size=4, progress=False)
    folder = FeatureCache(tmp_path, "text", enc.fingerprint).path
    (folder / "index.json").unlink()
    assert torch.equal(load_features(tmp_path, corpus, enc).vectors, table.vectors)
    again = Counting(enc)
    extract(corpus, again, tmp_path, progress=False)
    assert again.calls == 0 and (folder / "index.json").is_file()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_shard_is_computed_again_never_used(tiny_roberta: Path, tmp_path: Path, corpus_factory, damage) -> None:
    corpus = corpus_factory(4, 4)  # 16 utterances, 4 shards of 4
    enc = text_encoder(tiny_roberta)
    table = extract(corpus, enc, tmp_path, batch_size=4, shard_size=4, progress=False)
    folder = FeatureCache(tmp_path, "text", enc.fingerprint).path
    shard = sorted(folder.glob("shard-*.safetensors"))[0]
    data = shard.read_bytes()
    shard.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\xff" * len(data), "empty": b""}[damage])
    with pytest.raises(DataError, match="4 of 16 utterances .* have no cached text features"):
        load_features(tmp_path, corpus, enc)  # its rows are missing, not read wrong
    again = Counting(enc)
    healed = extract(corpus, again, tmp_path, batch_size=4, shard_size=4, progress=False)
    assert again.items == 4  # only the damaged shard's rows
    assert torch.equal(healed.vectors, table.vectors)
    assert torch.equal(load_features(tmp_path, corpus, enc).vectors, table.vectors)


def test_shards_swapped_on_disk_still_give_each_row_its_own_vector(
    tiny_roberta: Path, tmp_path: Path, corpus_factory
) -> None:
    """A shard's rows are named by its own metadata, not by the index: two shards exchanged
    (or one copied over another) cannot hand one utterance another's vector."""
    corpus = corpus_factory(4, 4)
    enc = text_encoder(tiny_roberta)
    table = extract(corpus, enc, tmp_path, batch_size=4, shard_size=4, progress=False)
    folder = FeatureCache(tmp_path, "text", enc.fingerprint).path
    a, b = sorted(folder.glob("shard-*.safetensors"))[:2]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    assert torch.equal(load_features(tmp_path, corpus, enc).vectors, table.vectors)
    c = sorted(folder.glob("shard-*.safetensors"))[2]
    c.write_bytes(da)  # a copy over a third: its own rows are now missing, the copied ones duplicated
    with pytest.raises(DataError, match="4 of 16 utterances .* have no cached text features"):
        load_features(tmp_path, corpus, enc)


def media_corpus(clips: dict[str, Path | None], name: str = "clips") -> Corpus:
    utts = [Utterance("0", i, "A", f"line {i}", media=str(path) if path is not None else None)
            for i, path in enumerate(clips.values())]
    return Corpus(name, [Conversation("0", utts)], {})


def test_audio_and_video_absences_are_masks_with_reasons(
    tiny_data2vec: Path, tiny_timesformer: Path, tmp_path: Path, clip_factory
) -> None:
    corpus = media_corpus({
        "both": clip_factory("both.mp4", seconds=1.5, seed=1),
        "silent-film": clip_factory("video-only.mp4", audio=False),
        "gone": tmp_path / "missing.mp4",
        "none": None,
    })
    audio = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec)))
    a = extract(corpus, audio, tmp_path / "cache", progress=False)
    assert a.present.tolist() == [True, False, False, False]
    assert a.reasons == ["", "no_audio_stream", "missing_file", "not_provided"]
    assert a.absent_counts() == {"no_audio_stream": 1, "missing_file": 1, "not_provided": 1}
    assert torch.equal(a.vectors[1:], torch.zeros(3, 32))
    wave = decode_audio(corpus.conversations[0].utterances[0].media, MediaConfig())
    assert torch.allclose(a.vectors[0], audio.encode([wave])[0], atol=1e-5)

    video = build_encoder(EncoderConfig(kind="hf-video", model=str(tiny_timesformer)))
    v = extract(corpus, video, tmp_path / "cache", progress=False)
    assert v.present.tolist() == [True, True, False, False]
    assert v.reasons[2:] == ["missing_file", "not_provided"]
    frames = decode_video(corpus.conversations[0].utterances[1].media, MediaConfig())
    assert torch.allclose(v.vectors[1], video.encode([frames])[0], atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["audio", "video"]


def test_a_clip_that_appears_later_is_computed_then(tiny_data2vec: Path, tmp_path: Path, clip_factory) -> None:
    late = tmp_path / "late.mp4"
    corpus = media_corpus({"late": late})
    audio = Counting(build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec))))
    assert extract(corpus, audio, tmp_path / "cache", progress=False).reasons == ["missing_file"]
    clip_factory("late.mp4")
    table = extract(corpus, audio, tmp_path / "cache", progress=False)
    assert table.present.tolist() == [True] and audio.items == 1


def test_media_settings_are_part_of_the_fingerprint(tiny_data2vec: Path, tmp_path: Path, clip_factory) -> None:
    corpus = media_corpus({"a": clip_factory("a.mp4", seconds=2.0)})
    cfg = EncoderConfig(kind="hf-audio", model=str(tiny_data2vec))
    full = extract(corpus, build_encoder(cfg), tmp_path, progress=False)
    cut_cfg = dataclasses.replace(cfg, media=MediaConfig(max_seconds=0.5))
    cut = Counting(build_encoder(cut_cfg))
    table = extract(corpus, cut, tmp_path, progress=False)
    assert cut.items == 1 and not torch.allclose(table.vectors, full.vectors)


def test_utterances_without_text_have_no_text_vector(tiny_roberta: Path, tmp_path: Path) -> None:
    """A clip without transcript: text absent as ``not_provided`` (the Recognizer's spelling),
    in plain and in context mode; in context mode it adds nothing to later turns' input."""
    utts = [Utterance("d", 0, "A", "hello there"), Utterance("d", 1, "B", "", audio="/x.wav"),
            Utterance("d", 2, "A", "bye")]
    corpus = Corpus("c", [Conversation("d", utts)], {})
    for mode in ("plain", "context"):
        enc = text_encoder(tiny_roberta, text_mode=mode, pooling="mean", options={"speaker_format": "token"})
        table = extract(corpus, enc, tmp_path / mode, progress=False)
        assert table.present.tolist() == [True, False, True]
        assert table.reasons == ["", "not_provided", ""]
        assert torch.equal(table.vectors[1], torch.zeros(table.vectors.shape[1]))
        inputs = enc.build_inputs(corpus.conversations[0])
        if mode == "context":  # the text-less turn (speaker s2) leaves no empty line behind
            assert inputs[2] == "<s1> hello there <s1> bye Now <s1> feels"
        assert torch.allclose(table.vectors[2], enc.encode([inputs[2]])[0], atol=1e-5)


def test_spans_of_one_recording_never_share_an_entry(tiny_data2vec: Path, tmp_path: Path) -> None:
    """Utterances of one long recording (IEMOCAP's sessions, a transcript): each span is its
    own input; the same key with another span (an edited transcript) is recomputed."""
    import numpy as np

    from altsa.features.extract import plan_items, input_spec
    from altsa.recordings.synthetic import write

    t = np.arange(3 * 16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * np.where(t < 1.5, 220, 660) * t)).astype(np.float32)  # two halves
    rec = str(write(tmp_path / "session.wav", wave, rate=44100))

    def corpus(spans: list, name: str = "session") -> Corpus:
        utts = [Utterance("s", i, "A", f"line {i}", media=rec, start=a, end=b) for i, (a, b) in enumerate(spans)]
        return Corpus(name, [Conversation("s", utts)], {})

    first = corpus([(0.0, 1.5), (1.5, 3.0), (None, None)])
    audio = Counting(build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec))))
    table = extract(first, audio, tmp_path / "cache", progress=False)
    ids = [it.id for it in plan_items(first, "audio", input_spec(audio))]
    assert len(set(ids)) == 3 and audio.items == 3 and table.present.all()
    cfg = MediaConfig()
    for row, span in enumerate([(0.0, 1.5), (1.5, 3.0), None]):
        expected = audio.inner.encode([decode_audio(rec, cfg, span=span)])[0]
        assert torch.allclose(table.vectors[row], expected, atol=1e-5), row
    assert not torch.allclose(table.vectors[0], table.vectors[1], atol=1e-3)

    # the same keys with the spans swapped: new entries, each utterance gets its own audio
    swapped = corpus([(1.5, 3.0), (0.0, 1.5), (None, None)], name="edited")
    again = extract(swapped, audio, tmp_path / "cache", progress=False)
    assert audio.items == 5  # the two moved spans encoded, the whole-file entry reused
    assert torch.allclose(again.vectors[0], table.vectors[1]) and torch.allclose(again.vectors[1], table.vectors[0])
    assert torch.equal(load_features(tmp_path / "cache", first, audio.inner).vectors, table.vectors)
    bad = extract(corpus([(5.0, 6.0)], name="past"), audio, tmp_path / "cache", progress=False)
    assert bad.reasons == ["span_outside_file"] and not bad.present.any()
