"""The worked examples of docs/data.md and docs/training.md, run as written: each config block
becomes its YAML file, each command runs through the CLI, on a corpus of the layout the
example describes, built here. Only the encoders are swapped for tiny ones (and training cut
to a few steps): the data route is exactly the documented one."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import torch

from altsa.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "docs" / "data.md", REPO / "docs" / "training.md"]
BLOCK = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\s*```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)


def examples() -> dict[str, dict[str, list[str]]]:
    """name -> {"yaml": [config blocks], "bash": [command lines]}, in document order."""
    out: dict[str, dict[str, list[str]]] = {}
    for doc in DOCS:
        for m in BLOCK.finditer(doc.read_text(encoding="utf-8")):
            entry = out.setdefault(m["name"], {"yaml": [], "bash": []})
            if m["lang"] == "yaml":
                entry["yaml"].append(m["body"])
            else:
                entry["bash"] += [line for line in m["body"].splitlines() if line.strip()]
    return out


EXAMPLES = examples()


def test_the_docs_hold_the_seven_worked_examples() -> None:
    assert set(EXAMPLES) == {"emorynlp", "emorynlp-json", "dailydialog", "speech", "emodb", "iemocap",
                             "iemocap-release"}
    for name, ex in EXAMPLES.items():
        assert len(ex["yaml"]) == 1 and ex["yaml"][0].startswith(f"# {name}.yaml\n"), name
        assert any(c.startswith("altsa train ") for c in ex["bash"]), name
        assert any(c.startswith("altsa evaluate ") for c in ex["bash"]), name


# -- corpora in the layouts the examples describe --------------------------------------------------


def build_emorynlp(root: Path, write_emorynlp, write_wav) -> None:
    folder = root / "data" / "emorynlp"
    write_emorynlp(folder / "emorynlp_train_final.csv", seasons=2, episodes=2, scenes=2, turns=4, seed=0)
    write_emorynlp(folder / "emorynlp_dev_final.csv", seasons=1, episodes=2, scenes=2, turns=3, seed=1)
    write_emorynlp(folder / "emorynlp_test_final.csv", seasons=1, episodes=2, scenes=2, turns=3, seed=2)


EMORY_WORDS = {"Joyful": "this is wonderful, I love it", "Mad": "you always ruin everything",
               "Neutral": "the bus is at five", "Peaceful": "it is calm and quiet here",
               "Powerful": "I can do this, watch me", "Sad": "I miss her so much", "Scared": "what was that noise, help"}


def build_emorynlp_json(root: Path, write_emorynlp, write_wav) -> None:
    """The authors' layout: one indented JSON document per split, utterance ids with gaps,
    scene ids unique across episodes, a scene with two speakers at once."""
    folder = root / "data" / "emorynlp-json"
    folder.mkdir(parents=True)
    labels = list(EMORY_WORDS)
    for split, episodes, seed in (("trn", 4, 0), ("dev", 2, 1), ("tst", 2, 2)):
        g = torch.Generator().manual_seed(seed)
        doc = {"season_id": split, "episodes": []}
        for e in range(1, episodes + 1):
            scenes = []
            for c in range(1, 3):
                utts = []
                for u in (1, 2, 4, 5):  # u003 left out, as in the published files
                    label = labels[int(torch.randint(len(labels), (1,), generator=g))]
                    who = [["Monica Geller"], ["Joey Tribbiani", "Chandler Bing"], ["Rachel Green"]][u % 3]
                    utts.append({"utterance_id": f"s01_e{e:02d}_c{c:02d}_u{u:03d}", "speakers": who,
                                 "transcript": EMORY_WORDS[label], "tokens": [EMORY_WORDS[label].split()],
                                 "emotion": label})
                scenes.append({"scene_id": f"s01_e{e:02d}_c{c:02d}", "utterances": utts})
            doc["episodes"].append({"episode_id": f"s01_e{e:02d}", "scenes": scenes})
        (folder / f"emotion-detection-{split}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")


DD_WORDS = ["that is wonderful news", "get out of here now", "the bus leaves at five", "I miss her so much",
            "what a surprise to see you", "that smells awful", "I am scared of the dark"]
DD_IDS = [4, 1, 0, 5, 6, 2, 3]  # happiness, anger, neutral, sadness, surprise, disgust, fear


def build_dailydialog(root: Path, write_emorynlp, write_wav) -> None:
    """The published layout: per split folder a dialogues file (turns ended by __eou__, one
    dialogue per line) and its emotion ids beside it."""
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 10), ("validation", 4), ("test", 4)):
        folder = root / "data" / "ijcnlp_dailydialog" / split
        folder.mkdir(parents=True)
        texts, ids = [], []
        for _ in range(n):
            picks = torch.randint(len(DD_WORDS), (4,), generator=g).tolist()
            texts.append(" __eou__ ".join(DD_WORDS[k] + " ." for k in picks) + " __eou__")
            ids.append(" ".join(str(DD_IDS[k]) for k in picks) + " ")
        (folder / f"dialogues_{split}.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        (folder / f"dialogues_emotion_{split}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")


def build_speech(root: Path, write_emorynlp, write_wav) -> None:
    folder = root / "data" / "speech"
    labels = ["anger", "joy", "neutral"]
    for split, speakers in (("train", ["03", "08", "09"]), ("dev", ["10"]), ("test", ["11"])):
        rows = ["file,speaker,emotion"]
        for s in speakers:
            for i, label in enumerate(labels * 2):
                name = f"clips/{s}a0{i}{label[0].upper()}a.wav"
                write_wav(folder / name, label, detune=i // 3)
                rows.append(f"{name},{s},{label}")
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def build_emodb(root: Path, write_emorynlp, write_wav) -> None:
    """EmoDB's published layout: wav/SSTTTEV.wav, the emotion a letter in the name; a few
    speakers of each split, and a file whose name is no EmoDB name."""
    folder = root / "data" / "emodb" / "wav"
    tones = {"W": "anger", "F": "joy", "N": "neutral"}
    for speaker in ("03", "08", "11", "14", "15", "16"):
        for i, (letter, tone) in enumerate(list(tones.items()) * 2):
            write_wav(folder / f"{speaker}a0{i}{letter}{'ab'[i // 3]}.wav", tone, detune=i // 3)
    write_wav(folder / "silence.wav", "neutral")


def build_iemocap(root: Path, write_emorynlp, write_wav) -> None:
    folder = root / "data" / "iemocap"
    g = torch.Generator().manual_seed(0)
    # mostly the four classes (and exc, counted as hap), some labels left out on purpose
    labels = ["ang", "hap", "neu", "sad", "exc", "ang", "hap", "neu", "sad", "fru", "xxx"]
    words = {"ang": "get out of my way", "hap": "this is the best day", "exc": "we did it, wow",
             "neu": "the meeting is at two", "sad": "I lost it all", "fru": "why does this never work",
             "xxx": "hm"}
    for session in range(1, 6):
        rows = ["dialog,turn,speaker,transcript,emotion,wav"]
        for d, kind in enumerate(("impro01", "script02")):
            dialog = f"Ses0{session}F_{kind}"
            for turn in range(6):
                label = labels[int(torch.randint(len(labels), (1,), generator=g))]
                speaker = "F" if turn % 2 == 0 else "M"
                wav = f"wav/{dialog}/{dialog}_{speaker}{turn:03d}.wav"
                write_wav(folder / wav, label)
                rows.append(f"{dialog},{turn},{speaker},\"{words[label]}\",{label},{wav}")
        (folder / f"Session{session}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_iemocap_release(root: Path, write_wav, sessions: int = 5) -> Path:
    """IEMOCAP's release layout: per session, each dialog's EmoEvaluation blocks (turns listed
    out of time order, as some are), transcriptions (with a line naming no turn) and one stereo
    recording the turns are spans of."""
    import wave

    import numpy as np

    release = root / "IEMOCAP_full_release"
    g = torch.Generator().manual_seed(0)
    labels = ["ang", "hap", "neu", "sad", "exc", "ang", "hap", "neu", "sad", "fru", "xxx"]
    words = {"ang": "get out of my way", "hap": "this is the best day", "exc": "we did it, wow",
             "neu": "the meeting is at two", "sad": "I lost it all", "fru": "why does this never work", "xxx": "hm"}
    tones = {"ang": 660.0, "hap": 440.0, "exc": 440.0, "neu": 220.0, "sad": 150.0, "fru": 550.0, "xxx": 330.0}
    for session in range(1, sessions + 1):
        dialog = release / f"Session{session}" / "dialog"
        for sub in ("EmoEvaluation", "transcriptions", "wav"):
            (dialog / sub).mkdir(parents=True, exist_ok=True)
        for kind in ("impro01", "script02_1"):
            name = f"Ses0{session}F_{kind}"
            evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            transcript, audio = [], []
            for turn in range(6):
                label = labels[int(torch.randint(len(labels), (1,), generator=g))]
                who = "F" if turn % 2 == 0 else "M"
                start, end = 1.0 + 2.0 * turn, 2.5 + 2.0 * turn
                evaluation += [f"[{start:.4f} - {end:.4f}]\t{name}_{who}{turn:03d}\t{label}\t[2.5000, 3.0000, 2.5000]",
                               "C-E2:\tNeutral;\t()", "A-E3:\tval 3; act 2; dom  2;\t()", ""]
                transcript.append(f"{name}_{who}{turn:03d} [{start:08.4f}-{end:08.4f}]: {words[label]}")
                audio.append((start, end, tones[label]))
            head, blocks = evaluation[:2], [evaluation[i:i + 4] for i in range(2, len(evaluation), 4)]
            blocks = blocks[1::2] + blocks[0::2]  # the M turns first: order comes from the times
            (dialog / "EmoEvaluation" / f"{name}.txt").write_text("\n".join(head + sum(blocks, [])) + "\n")
            (dialog / "transcriptions" / f"{name}.txt").write_text("\n".join(transcript + ["M: [LAUGHTER]"]) + "\n")
            rate = 16000
            wave_ = np.zeros(int(14.0 * rate), np.float32)
            for start, end, hz in audio:
                t = np.arange(int((end - start) * rate)) / rate
                wave_[int(start * rate): int(start * rate) + t.size] = 0.3 * np.sin(2 * np.pi * hz * t)
            pcm = (np.stack([wave_, wave_], 1) * 32767).astype("<i2")
            with wave.open(str(dialog / "wav" / f"{name}.wav"), "wb") as w:
                w.setnchannels(2)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(pcm.tobytes())
    return release


def build_iemocap_release(root: Path, write_emorynlp, write_wav) -> None:
    write_iemocap_release(root / "data", write_wav)


BUILD = {"emorynlp": build_emorynlp, "emorynlp-json": build_emorynlp_json, "dailydialog": build_dailydialog,
         "speech": build_speech, "emodb": build_emodb,
         "iemocap": build_iemocap, "iemocap-release": build_iemocap_release}


@pytest.mark.parametrize("name", sorted(BUILD))
def test_worked_example_runs_as_documented(name, synthetic, tmp_path, monkeypatch, capsys, write_emorynlp,
                                           write_wav) -> None:
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.synthetic import tiny_overrides

    ex = EXAMPLES[name]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALTSA_CACHE_DIR", str(tmp_path / "user-cache"))
    BUILD[name](tmp_path, write_emorynlp, write_wav)
    config = tmp_path / f"{name}.yaml"
    config.write_text(ex["yaml"][0], encoding="utf-8")
    cfg = load_config(ExperimentConfig, config)
    tiny = [o for o in tiny_overrides(Path("unused"), synthetic["models"], tmp_path / "cache",
                                      modalities=tuple(cfg.encoders.modalities)) if not o.startswith("data.")]
    outputs = []
    for line in ex["bash"]:
        argv = shlex.split(line)
        assert argv[0] == "altsa", line
        argv = argv[1:] + (["--quiet", *tiny] if argv[1] == "train" else [])
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{line}\n{err}"
        outputs.append((argv[0], out))

    train = shlex.split(next(c for c in ex["bash"] if c.startswith("altsa train ")))
    run = Path(train[train.index("--out") + 1])
    data = json.loads((run / "metrics.json").read_text())["data"]
    assert data["train"]["read"] == data["train"]["kept"] + data["train"]["skipped"] > 0
    if name == "emorynlp":  # every row, the repeating scene ids apart, the seven labels
        assert data["train"]["skipped"] == 0 and data["train"]["kept"] == 32
        assert json.loads((run / "labels.json").read_text())["name"] == "emorynlp-emotion"
    if name == "emorynlp-json":  # 4 episodes x 2 scenes x 4 utterances, all kept; positions keep the gaps
        assert data["train"]["skipped"] == 0 and data["train"]["kept"] == 32
        assert json.loads((run / "labels.json").read_text())["name"] == "emorynlp-emotion"
        evaluation = json.loads(next(out for cmd, out in outputs if cmd == "evaluate"))
        assert evaluation["n"] == 16 and evaluation["read_as"]["format"] == "emorynlp-json"
    if name == "iemocap-release":  # 3 sessions x 2 dialogs x 6 turns read; the four classes kept, exc -> hap
        assert data["train"]["read"] == 36 and set(data["train"]["skipped_by_reason"]) <= {"unknown_label"}
        assert json.loads((run / "labels.json").read_text())["labels"] == ["ang", "hap", "neu", "sad"]
        assert json.loads((run / "metrics.json").read_text())["fused_modalities"] == ["text", "audio"]
        evaluation = json.loads(next(out for cmd, out in outputs if cmd == "evaluate"))
        assert evaluation["read_as"]["format"] == "iemocap" and evaluation["n"] > 0
        assert evaluation["weights_mean"]["audio"] > 0 and evaluation["absent"]["audio"] == {}
    if name == "dailydialog":  # 10 dialogues x 4 turns, all kept; the published label names
        assert data["train"]["read"] == data["train"]["kept"] == 40
        assert json.loads((run / "labels.json").read_text())["name"] == "dailydialog-emotion"
        evaluation = json.loads(next(out for cmd, out in outputs if cmd == "evaluate"))
        assert evaluation["n"] == 16 and evaluation["read_as"]["format"] == "dailydialog"
        # the corpus's figure: micro F1 without neutral, from the confusion matrix by hand
        assert json.loads((run / "metrics.json").read_text())["final"]["select_on"] == "micro_f1"
        assert evaluation["micro_f1_excludes"] == ["neutral"]
        conf, k = evaluation["confusion"], evaluation["labels"].index("neutral")
        kept = [i for i in range(len(conf)) if i != k]
        tp = sum(conf[i][i] for i in kept)
        predicted, true = sum(conf[r][c] for r in range(len(conf)) for c in kept), sum(sum(conf[r]) for r in kept)
        want = 0.0 if tp == 0 else 100 * 2 * tp / (predicted + true)
        assert evaluation["micro_f1"] == pytest.approx(want)
    if name == "speech":  # audio only, no text; a folder of new recordings is labelled file by file
        assert json.loads((run / "metrics.json").read_text())["fused_modalities"] == ["audio"]
        evaluation = json.loads(next(out for cmd, out in outputs if cmd == "evaluate"))
        assert evaluation["n"] == 6 and evaluation["rows"]["skipped"] == 0
        assert json.loads((run / "metrics.json").read_text())["final"]["select_on"] == "uar"
        conf = evaluation["confusion"]
        recalls = [row[i] / sum(row) for i, row in enumerate(conf) if sum(row)]
        assert evaluation["uar"] == pytest.approx(100 * sum(recalls) / len(recalls))
        predicted = [json.loads(x) for x in next(out for cmd, out in outputs if cmd == "predict").splitlines()]
        assert len(predicted) == 30 and all(p["absent"]["text"] == "not_provided" for p in predicted)
        assert predicted[0]["dialogue_id"] == "03a00Aa.wav"
    if name == "emodb":  # labels from the names; speakers as splits; the stray file counted, not kept
        assert data["train"]["kept"] == 18 and data["train"]["skipped"] == 0 and data["dev"]["kept"] == 6
        assert json.loads((run / "labels.json").read_text())["labels"][:3] == ["anger", "boredom", "neutral"]
        final = json.loads((run / "metrics.json").read_text())["final"]
        assert final["select_on"] == "uar" and final["n"] == 6
        evaluation = json.loads(next(out for cmd, out in outputs if cmd == "evaluate"))
        assert evaluation["n"] == 12 and evaluation["read_as"]["name_pattern"].startswith("^(?P<speaker>")
        inspected = next(out for cmd, out in outputs if cmd == "data")
        assert "name_unmatched" in inspected and "anger" in inspected
        predicted = [json.loads(x) for x in next(out for cmd, out in outputs if cmd == "predict").splitlines()]
        assert len(predicted) == 37 and "silence.wav" in {p["dialogue_id"] for p in predicted}
    if name == "iemocap":  # three session files as one split; exc -> hap; the other labels skipped, counted
        assert set(data["train"]["skipped_by_reason"]) <= {"unknown_label"}
        assert json.loads((run / "labels.json").read_text())["labels"] == ["ang", "hap", "neu", "sad"]
        assert json.loads((run / "metrics.json").read_text())["fused_modalities"] == ["text", "audio"]
        assert data["train"]["read"] == 36 and (run / "eval" / "test" / "report.md").is_file()
