"""Corpora this project has not seen, through config and CLI alone: EmoryNLP in its published
shape (scene ids repeating in every episode), skipped rows that stop a run instead of
shrinking it silently, and ``--json`` output that stays JSON with an empty feature cache.

Real readers, real tiny encoders (``altsa.training.synthetic``), real training and scores;
the corpus files are written here (never dataset files)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from altsa.cli.main import main


@pytest.fixture(scope="module")
def emory(tmp_path_factory, write_emorynlp) -> Path:
    root = tmp_path_factory.mktemp("emorynlp")
    write_emorynlp(root / "emorynlp_train_final.csv", seasons=2, episodes=2, scenes=3, turns=4, seed=0)
    write_emorynlp(root / "emorynlp_dev_final.csv", seasons=1, episodes=2, scenes=2, turns=4, seed=1)
    write_emorynlp(root / "emorynlp_test_final.csv", seasons=1, episodes=2, scenes=2, turns=3, seed=2)
    return root


def emory_config(folder: Path, root: Path | None = None) -> Path:
    """The few lines a user writes for EmoryNLP (docs/data.md); encoders and epochs come as
    overrides (tiny models)."""
    path = folder / "emorynlp.yaml"
    lines = ["name: emorynlp", "data:", "  corpus: emorynlp"]
    lines += [f"  root: {root}"] if root is not None else []
    lines += ["  splits: {train: emorynlp_train_final.csv, dev: emorynlp_dev_final.csv}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_text(synthetic, tmp_path_factory) -> list[str]:
    """Overrides: the tiny text encoder, one epoch of two steps per stage, a fresh cache."""
    from altsa.training.synthetic import tiny_overrides

    over = tiny_overrides(synthetic["corpus"], synthetic["models"], tmp_path_factory.mktemp("cache"),
                          modalities=("text",))
    return [o for o in over if not o.startswith("data.")]


@pytest.fixture(scope="module")
def emory_run(emory, tiny_text, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("emory-run")
    out = folder / "run"
    assert main(["train", str(emory_config(folder, emory)), "--out", str(out), "--quiet", *tiny_text]) == 0
    return out


def test_emorynlp_trains_through_its_config_on_every_row(emory_run, emory) -> None:
    metrics = json.loads((emory_run / "metrics.json").read_text())
    # 2 seasons x 2 episodes x 3 scenes x 4 turns: the repeating scene ids keep every row
    assert metrics["data"]["train"]["read"] == metrics["data"]["train"]["kept"] == 48
    assert metrics["data"]["dev"]["read"] == metrics["data"]["dev"]["kept"] == 16
    assert metrics["data"]["train"]["skipped"] == 0
    labels = json.loads((emory_run / "labels.json").read_text())
    assert labels["labels"] == ["joyful", "mad", "neutral", "peaceful", "powerful", "sad", "scared"]
    assert "train:" in (emory_run / "log.txt").read_text() and "skipped 0" in (emory_run / "log.txt").read_text()


def test_evaluate_emorynlp_test_file_reads_every_row(emory_run, emory, capsys) -> None:
    capsys.readouterr()
    test = emory / "emorynlp_test_final.csv"
    assert main(["evaluate", str(emory_run), "--data", str(test), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 12 and out["rows"] == {"read": 12, "kept": 12, "skipped": 0, "skipped_by_reason": {}}
    assert out["read_as"]["format"] == "emorynlp"
    report = json.loads((Path(out["report"]) / "metrics.json").read_text())
    assert report["extra"]["rows"]["kept"] == 12
    assert Path(out["report"]) == emory_run / "eval" / "emorynlp_test_final"


def test_skipped_rows_stop_train_and_evaluate_with_the_option_to_accept_them(
    emory, emory_run, tiny_text, tmp_path, capsys
) -> None:
    # Scene_ID alone as the dialogue: later episodes' scenes collide with the first ones
    over = ["data.columns.dialogue=Scene_ID"]
    out = tmp_path / "run"
    assert main(["train", str(emory_config(tmp_path, emory)), "--out", str(out), "--quiet", *tiny_text, *over]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "emorynlp_train_final: 36 of 48 rows skipped (75.0 %, above the 1 % limit): duplicate_utterance 36" in err
    assert "duplicate utterance: dialogue '1' position 1 (first at line 2)" in err
    assert "--max-skipped-fraction" in err
    assert not out.exists()  # a failed start leaves no run folder behind
    default = tmp_path / "runs"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:  # the default run folder (runs/<name>) is not left behind either
        assert main(["train", str(emory_config(tmp_path, emory)), "--quiet", *tiny_text, *over]) == 2
    finally:
        os.chdir(cwd)
    assert not (default / "emorynlp").exists()
    capsys.readouterr()
    # accepted explicitly, the run trains on what is left and records what was skipped
    assert main(["train", str(emory_config(tmp_path, emory)), "--out", str(out), "--quiet", *tiny_text, *over,
                 "--max-skipped-fraction", "0.8"]) == 0
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert data["train"]["skipped_by_reason"] == {"duplicate_utterance": 36} and data["train"]["kept"] == 12
    # evaluate: the same limit, the same option
    test = emory / "emorynlp_test_final.csv"
    assert main(["evaluate", str(emory_run), "--data", str(test), "--dialogue-col", "Scene_ID", "--json"]) == 2
    err = capsys.readouterr().err
    assert "6 of 12 rows skipped" in err and "--max-skipped-fraction 0.5" in err
    assert main(["evaluate", str(emory_run), "--data", str(test), "--dialogue-col", "Scene_ID", "--json",
                 "--max-skipped-fraction", "0.5", "--out", str(tmp_path / "ev")]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["skipped"] == 6


def test_a_config_must_name_its_data(tiny_text, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", str(emory_config(tmp_path)), "--out", str(out), "--quiet", *tiny_text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data.root is not set") and "--data DIR" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["extract", "embedded-frozen", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: data.root is not set")


def _cli(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", ALTSA_CACHE_DIR=str(cwd / "user-cache"))
    return subprocess.run([script, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_json_output_is_pure_with_an_empty_cache(emory_run, emory, tiny_text, altsa_script, tmp_path) -> None:
    """Every ``--json`` command, as a user's shell runs it, with a feature cache it must fill
    first: stdout parses as JSON (lines for predict); the progress went to stderr."""
    test = str(emory / "emorynlp_test_final.csv")
    inspect = _cli(altsa_script, "data", "inspect", test, "--json", cwd=tmp_path)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["rows"]["kept"] == 12

    cache = [f"features.cache_dir={tmp_path / 'cache-x'}"]
    over = [o for o in tiny_text if not o.startswith("features.")]
    extract = _cli(altsa_script, "extract", str(emory_config(tmp_path, emory)), *over, *cache, "--json", cwd=tmp_path)
    assert extract.returncode == 0, extract.stderr
    got = json.loads(extract.stdout)
    assert got["splits"]["train"]["kept"] == 48 and got["features"][0]["computed"] == 48
    assert "text train: 0 of 48 cached" in extract.stderr  # what people read went to stderr

    evaluate = _cli(altsa_script, "evaluate", str(emory_run), "--data", test, "--json", "--cache",
                    str(tmp_path / "cache-e"), "--out", str(tmp_path / "ev"), cwd=tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr
    assert json.loads(evaluate.stdout)["n"] == 12
    assert "extracting text features" in evaluate.stderr  # the cache was empty: it did extract

    predict = _cli(altsa_script, "predict", str(emory_run), test, "--json", cwd=tmp_path)
    assert predict.returncode == 0, predict.stderr
    assert f"{test}: read 12 rows, kept 12, skipped 0" in predict.stderr  # what it read, beside the JSON
    rows = [json.loads(line) for line in predict.stdout.splitlines()]
    assert len(rows) == 12 and rows[0]["dialogue_id"] == "1/1/1"
    assert not (tmp_path / "altsa-eval").exists()


# -- utterances without text: a clips CSV, an audio-only model, media files as predict input --

@pytest.fixture(scope="module")
def clips_csv(tmp_path_factory, write_wav) -> Path:
    """A corpus of labelled clips and no transcripts: ``file,speaker,emotion`` per split,
    clip paths relative to the CSV's folder (the shape of EmoDB or any folder of recordings)."""
    root = tmp_path_factory.mktemp("clips")
    for split, n in (("train", 12), ("dev", 6)):
        rows = ["file,speaker,emotion"]
        for i in range(n):
            label = ["anger", "joy", "neutral"][i % 3]
            write_wav(root / "wav" / f"{split}{i}.wav", label, detune=i % 2)
            rows.append(f"wav/{split}{i}.wav,spk{i % 4},{label}")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def audio_run(clips_csv, synthetic, tmp_path_factory) -> Path:
    """An audio-only model trained from the clips CSV through config alone: no text column,
    no placeholder text (``columns.text: none``)."""
    from altsa.training.synthetic import tiny_overrides

    folder = tmp_path_factory.mktemp("audio-run")
    cfg = folder / "clips.yaml"
    cfg.write_text(
        "name: clips\n"
        "data:\n"
        "  corpus: csv\n"
        f"  root: {clips_csv}\n"
        "  splits: {train: train.csv, dev: dev.csv}\n"
        "  columns: {dialogue: file, text: none, label: emotion, media: file}\n"
        "encoders:\n"
        "  modalities: [audio]\n",
        encoding="utf-8",
    )
    over = [o for o in tiny_overrides(synthetic["corpus"], synthetic["models"], folder / "cache", modalities=("audio",))
            if not o.startswith("data.")]
    out = folder / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet", *over]) == 0
    return out


def test_audio_only_model_trains_from_a_clips_csv(audio_run) -> None:
    metrics = json.loads((audio_run / "metrics.json").read_text())
    assert metrics["fused_modalities"] == ["audio"]
    assert metrics["data"]["train"]["kept"] == 12 and metrics["data"]["train"]["skipped"] == 0
    labels = json.loads((audio_run / "labels.json").read_text())
    assert labels["name"] == "meld-emotion"  # the first known set holding every label seen (docs/data.md)


def test_audio_only_model_evaluates_and_reports_text_not_provided(audio_run, clips_csv, capsys) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(audio_run), "--data", str(clips_csv / "dev.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6 and out["read_as"]["format"] == "csv" and out["read_as"]["columns"]["text"] == "none"
    assert out["weights_mean"]["audio"] == pytest.approx(1.0)


def test_predict_labels_media_files_and_folders(audio_run, clips_csv, capsys, monkeypatch) -> None:
    from altsa.inference import Recognizer

    clip = clips_csv / "wav" / "dev0.wav"
    (clips_csv / "wav" / "notes.txt").write_text("not a clip", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(audio_run), str(clip), str(clips_csv / "wav" / "dev1.wav"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["dialogue_id"] for r in rows] == ["dev0.wav", "dev1.wav"]
    assert all(r["text"] == "" and r["absent"]["text"] == "not_provided" for r in rows)
    assert all(r["weights"]["audio"] == pytest.approx(1.0) for r in rows)
    # the CLI and the Python API give the same prediction and the same reason strings
    (py,) = Recognizer.from_pretrained(audio_run).predict([{"audio": str(clip)}])
    assert py.absent == rows[0]["absent"] and py.probabilities == pytest.approx(rows[0]["probabilities"], abs=1e-5)

    assert main(["predict", str(audio_run), str(clips_csv / "wav"), "--json"]) == 0
    out, err = capsys.readouterr()
    names = [json.loads(line)["dialogue_id"] for line in out.splitlines()]
    assert names == sorted(f"{s}{i}.wav" for s, n in (("train", 12), ("dev", 6)) for i in range(n))
    assert "read 18 rows, kept 18, skipped 0; 1 other files ignored (not media)" in err

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["predict", str(audio_run), str(clip)]) == 0
    table = capsys.readouterr().out
    assert "dev0.wav" in table and "(no text)" in table


def test_a_bundled_models_report_goes_to_the_user_cache(tmp_path, monkeypatch, capsys) -> None:
    """The installed package is never written into, and the current folder (perhaps a git tree)
    gets nothing unasked: the report of a bundled model lands in the user cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALTSA_CACHE_DIR", str(tmp_path / "user-cache"))
    conv = {"dialogue_id": "d", "utterances": [{"speaker": "A", "text": "I love this!", "emotion": "joy"},
                                               {"speaker": "B", "text": "Get out.", "emotion": "anger"}]}
    (tmp_path / "talk.jsonl").write_text(json.dumps(conv) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", "meld-text-minilm", "--data", "talk.jsonl", "--json", "--cache", str(tmp_path / "fc")]) == 0
    report = Path(json.loads(capsys.readouterr().out)["report"])
    assert report == tmp_path / "user-cache" / "eval" / "meld-text-minilm-talk"
    assert (report / "report.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc", "talk.jsonl", "user-cache"]


def test_the_issues_clips_csv_trains_with_data_corpus_csv_alone(tiny_text, tmp_path, write_wav) -> None:
    """``dialogue_id,speaker,text,label,media``: the conventional columns need no mapping."""
    for split, n in (("train", 8), ("dev", 4)):
        rows = ["dialogue_id,speaker,text,label,media"]
        for i in range(n):
            label = ["joy", "anger"][i % 2]
            write_wav(tmp_path / "clips" / f"{split}{i}.wav", label)
            rows.append(f"{split}{i // 2},spk{i % 2},{'great news' if label == 'joy' else 'go away'},{label},"
                        f"clips/{split}{i}.wav")
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = ["train", "embedded-frozen", "--data", str(tmp_path), "--out", str(out), "--quiet", "data.corpus=csv",
            "data.splits={train: train.csv, dev: dev.csv}", *tiny_text]
    assert main(argv) == 0
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert (data["train"]["kept"], data["dev"]["kept"]) == (8, 4)
