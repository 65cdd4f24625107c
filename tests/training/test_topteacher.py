"""The teacher stage over cached lower states (``cache_lower``, LoRA in the top blocks) and the
text -> text distillation route (``train.distill_from``), end to end on tiny models."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory):
    from altsa.encoders.tiny import save_tiny_mpnet

    return save_tiny_mpnet(tmp_path_factory.mktemp("tiny-mpnet"), layers=3)


def _train_accurate_base(tiny, tiny_mpnet, folder, seed: int):
    """Step 1 of the accurate recipe on the tiny mpnet: ``(cfg, run folder)``."""
    from altsa.training.pipeline import train

    cfg = tiny(base="meld-text-accurate-base", text_mode=None, extra=[
        f"encoders.text.model={tiny_mpnet}", "encoders.text.options.cache_lower=true", "train.teacher.epochs=2",
        "train.teacher.encoder_lr=5e-2", f"seed={seed}"])
    out = folder / "run"
    assert train(cfg, out=out, quiet=True)["complete"]
    return cfg, out


@pytest.fixture(scope="module")
def accurate_run(tiny, tiny_mpnet, tmp_path_factory):
    return _train_accurate_base(tiny, tiny_mpnet, tmp_path_factory.mktemp("accurate"), seed=0)


def test_lora_adapter_is_what_the_run_ships(accurate_run, tiny_mpnet):
    cfg, run = accurate_run
    adapter = run / "text-adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_mpnet)  # the config's reference, as written
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert weights and all(".lora_A." in k or ".lora_B." in k for k in weights)
    assert {k.split(".layer.")[1].split(".")[0] for k in weights} == {"1", "2"}  # unfreeze_last: 2 of 3 blocks
    assert any(t.abs().max() > 0 for k, t in weights.items() if ".lora_B." in k)  # B starts at 0: it trained
    assert not (run / "text-encoder").exists()  # no encoder copy


def test_cached_vectors_equal_the_assembled_encoder(accurate_run):
    """The fusion stage trained on vectors computed from cached states; inference assembles
    base model + merged adapter: both must give the same vectors (same cache fingerprint)."""
    from altsa.encoders.base import build_encoder
    from altsa.features import load_features
    from altsa.training.pipeline import _import_encoder_kinds, read_split
    from altsa.training.run import load_run

    cfg, run = accurate_run
    loaded = load_run(run)
    assert loaded.encoders["text"].options["adapter"].endswith("text-adapter")
    _import_encoder_kinds()
    enc = build_encoder(loaded.encoders["text"])
    corpus = read_split(cfg, "dev")
    cached = load_features(cfg.features.cache_dir, corpus, enc).vectors  # [n, 32]
    fresh = enc.encode([t for conv in corpus.conversations for t in enc.build_inputs(conv)])
    assert torch.allclose(cached, fresh, atol=3e-3 * fresh.abs().max().item())
    base = build_encoder(type(loaded.encoders["text"])(**{**vars(loaded.encoders["text"]),
                                                          "options": {"speaker_format": "plain"}}))
    assert not torch.allclose(base.encode(fresh_texts := [t for conv in corpus.conversations
                                                          for t in base.build_inputs(conv)][:4]), enc.encode(fresh_texts))


def test_only_adapters_and_branch_trained(accurate_run, tiny_mpnet):
    from transformers import AutoModel

    _, run = accurate_run
    final = load_file(str(run / "checkpoints" / "teacher" / "final.safetensors"))
    original = AutoModel.from_pretrained(tiny_mpnet).state_dict()
    for name, tensor in final.items():
        if name.startswith("top.blocks.") and ".lora_" not in name:
            k = int(name.split(".")[2]) + 1  # top block i is model block k + i
            key = "encoder.layer." + str(k) + "." + name.split(".", 3)[3].replace(".base_layer", "")
            assert torch.equal(tensor, original[key]), name


def test_distill_from_adds_the_student_losses(accurate_run, tiny, tmp_path):
    """The second step of the accurate recipe (meld-text-accurate, "born again"): the tuned top
    blocks learn from a finished run's text branch, the conversation model from its predictions."""
    from altsa.training.pipeline import train

    _, teacher_run = accurate_run
    cfg = tiny(base="meld-text-accurate", text_mode=None, extra=[
        "encoders.text.options.cache_lower=true", f"train.distill_from={teacher_run}"])
    summary = train(cfg, out=tmp_path / "student", quiet=True)
    assert summary["complete"]
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    row = metrics["teacher"]["epochs"][0]
    assert row["train_kd_logit"] > 0 and row["train_kd_feature"] > 0
    assert row["train_loss"] > row["train_ce"]
    assert metrics["fusion"]["epochs"][0]["train_kd_logit"] > 0
    assert (tmp_path / "student" / "text-adapter" / "adapter_model.safetensors").is_file()


def test_distill_from_a_model_of_another_width_is_an_error(accurate_run, tiny, tmp_path):
    from altsa.errors import ConfigError
    from altsa.training.pipeline import train

    cfg = tiny(base="meld-text-accurate", text_mode=None, extra=[
        "encoders.text.options.cache_lower=true", "train.distill_from=meld-text-minilm"])
    # the bundled MELD model's text branch has d=256; the tiny config's model d=16
    with pytest.raises(ConfigError, match="set model.d=256"):
        train(cfg, out=tmp_path / "bad", quiet=True)


def test_frozen_student_distils_from_the_accurate_run(accurate_run, tiny, tmp_path):
    """The frozen-encoder route (embedded-frozen: cached text vectors, batches of dialogues),
    text branch taught by another run's text branch; with both lambdas 0 the objective is CE alone."""
    from altsa.training.pipeline import train

    _, teacher_run = accurate_run
    rows = {}
    for name, extra in (("kd", []), ("ce", ["train.lambda_logit=0", "train.lambda_feat=0"])):
        cfg = tiny(base="embedded-frozen", text_mode=None, extra=[f"train.distill_from={teacher_run}", *extra])
        assert train(cfg, out=tmp_path / name, quiet=True)["complete"]
        rows[name] = json.loads((tmp_path / name / "metrics.json").read_text())["teacher"]["epochs"][0]
    assert rows["kd"]["train_kd_logit"] > 0 and rows["kd"]["train_kd_feature"] > 0
    assert rows["kd"]["train_loss"] > rows["kd"]["train_ce"]
    assert rows["ce"]["train_loss"] == pytest.approx(rows["ce"]["train_ce"])


def test_fusion_stage_learns_from_the_teachers_final_predictions(accurate_run, tiny, tmp_path):
    """``train.distill_fusion``: the teacher's whole model (encoder, fusion, conversation
    model) gives the targets, the same probabilities its Recognizer predicts; the fusion loss
    is CE + lambda_logit L_rel on them; off, the fusion stage is CE alone."""
    import numpy as np

    from altsa.inference import Recognizer
    from altsa.training.pipeline import read_split, train
    from altsa.training.run import load_run
    from altsa.training.textdistill import teacher_final_logits

    _, teacher_run = accurate_run
    cfg = tiny(base="meld-text-minilm", text_mode=None, extra=[f"train.distill_from={teacher_run}",
                                                              "train.lambda_logit=0.5"])
    corpus = read_split(cfg, "train")
    labels = load_run(teacher_run).labels
    target = teacher_final_logits(str(teacher_run), cfg, corpus, labels, log=lambda *_: None)
    preds = Recognizer.from_pretrained(str(teacher_run)).predict_corpus(corpus)
    assert len(preds) == len(target) == sum(len(c) for c in corpus.conversations)
    for p in preds:
        got = torch.softmax(target[p.key], -1).numpy()
        np.testing.assert_allclose(got, [p.probabilities[k] for k in labels.labels], atol=1e-4)

    rows = {}
    for name, extra in (("kd", []), ("ce", ["train.distill_fusion=false"]), ("ablation", ["train.distill=false"])):
        run_cfg = tiny(base="meld-text-minilm", text_mode=None, extra=[
            f"train.distill_from={teacher_run}", "train.lambda_logit=0.5", *extra])
        assert train(run_cfg, out=tmp_path / name, quiet=True)["complete"]
        rows[name] = json.loads((tmp_path / name / "metrics.json").read_text())["fusion"]["epochs"][0]
    kd = rows["kd"]
    # the shipped meld-text-minilm recipe: LoRA adapters in its top blocks, taught by the teacher's text branch
    assert (tmp_path / "kd" / "text-adapter" / "adapter_model.safetensors").is_file()
    branch = json.loads((tmp_path / "kd" / "metrics.json").read_text())["teacher"]["epochs"][0]
    assert branch["train_kd_logit"] > 0 and branch["train_kd_feature"] > 0
    assert kd["train_kd_logit"] > 0 and kd["train_kd_feature"] == 0
    assert kd["train_loss"] == pytest.approx(kd["train_ce"] + 0.5 * kd["train_kd_logit"], rel=1e-5)
    for name in ("ce", "ablation"):  # train.distill=false (the "w/o distillation" row) is CE only here too
        assert rows[name]["train_kd_logit"] == 0 and rows[name]["train_loss"] == pytest.approx(rows[name]["train_ce"])


def test_a_missing_teacher_stops_the_run_at_set_up(tiny, tmp_path):
    """Found at set-up, not after the lower blocks' cache: a clear error and no run folder."""
    from altsa.errors import ConfigError
    from altsa.training.pipeline import train

    cfg = tiny(base="meld-text-minilm", text_mode=None, extra=[f"train.distill_from={tmp_path / 'not-trained'}"])
    with pytest.raises(ConfigError, match="no run directory or bundled model of that name; train the teacher first"):
        train(cfg, out=tmp_path / "student", quiet=True)
    assert not (tmp_path / "student").exists()


@pytest.fixture(scope="module")
def second_run(tiny, tiny_mpnet, tmp_path_factory):
    """Another teacher like ``accurate_run`` (seed 1): with it, an ensemble of two."""
    return _train_accurate_base(tiny, tiny_mpnet, tmp_path_factory.mktemp("accurate-s1"), seed=1)[1]


def test_an_ensemble_of_runs_teaches(accurate_run, second_run, tiny, tmp_path):
    """``train.distill_from`` a list: each teacher's text-branch vectors kept apart ([n, K, d]),
    logits averaged (text branch and final); the student trains on them end to end."""
    from altsa.training.pipeline import read_split, train
    from altsa.training.run import load_run
    from altsa.training.textdistill import teacher_final_logits, teacher_outputs

    _, first = accurate_run
    cfg = tiny(base="meld-text-accurate", text_mode=None, extra=[
        "encoders.text.options.cache_lower=true", f"train.distill_from=[{first},{second_run}]"])
    corpus = read_split(cfg, "train")
    labels = load_run(first).labels
    quiet = {"log": lambda *_: None}
    keys, h, z = teacher_outputs([str(first), str(second_run)], cfg, corpus, labels, **quiet)
    single = [teacher_outputs(str(r), cfg, corpus, labels, **quiet) for r in (first, second_run)]
    assert h.shape == (len(keys), 2, cfg.model.d) and single[0][0] == keys
    assert torch.allclose(h[:, 0], single[0][1][:, 0]) and torch.allclose(h[:, 1], single[1][1][:, 0])
    assert not torch.allclose(single[0][2], single[1][2])  # two different teachers
    assert torch.allclose(z, (single[0][2] + single[1][2]) / 2)
    final = teacher_final_logits([str(first), str(second_run)], cfg, corpus, labels, **quiet)
    alone = [teacher_final_logits(str(r), cfg, corpus, labels, **quiet) for r in (first, second_run)]
    assert all(torch.allclose(final[k], (alone[0][k] + alone[1][k]) / 2) for k in final)

    assert train(cfg, out=tmp_path / "student", quiet=True)["complete"]
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert metrics["teacher"]["epochs"][0]["train_kd_feature"] > 0
    assert metrics["fusion"]["epochs"][0]["train_kd_logit"] > 0


@pytest.mark.parametrize("case", ["twice", "missing", "unfinished"])
def test_a_bad_ensemble_stops_the_run_at_set_up(accurate_run, tiny, tmp_path, case):
    import shutil

    from altsa.errors import ConfigError
    from altsa.training.pipeline import train

    _, first = accurate_run
    other = {"twice": first, "missing": tmp_path / "not-trained", "unfinished": tmp_path / "unfinished"}[case]
    if case == "unfinished":  # a teacher run killed before its end: no model.safetensors yet
        shutil.copytree(first, other)
        (other / "model.safetensors").unlink()
    cfg = tiny(base="meld-text-accurate", text_mode=None, extra=[
        "encoders.text.options.cache_lower=true", f"train.distill_from=[{first},{other}]"])
    match = {"twice": "a list of distinct ones", "missing": "not-trained: no run directory or bundled model",
             "unfinished": "that run has not finished .* altsa train --resume"}[case]
    with pytest.raises(ConfigError, match=match):
        train(cfg, out=tmp_path / "student", quiet=True)
    assert not (tmp_path / "student").exists()


@pytest.mark.parametrize("base, extra", [
    ("meld-text-accurate-base", ["encoders.text.options.cache_lower=true"]),  # LoRA over cached states
    ("embedded-frozen", []),  # frozen vectors, batches of dialogues
    ("embedded-finetune", []),  # the whole text encoder fine-tuned
])
def test_contrastive_loss_joins_every_teacher_route(tiny, tiny_mpnet, tmp_path, base, extra):
    """``train.contrastive.weight`` adds ``weight * L_con`` of the text vectors to the teacher
    stage's objective, whichever way the stage trains; the fusion stage is untouched."""
    from altsa.training.pipeline import train

    text = [f"encoders.text.model={tiny_mpnet}"] if base != "embedded-frozen" else []
    cfg = tiny(base=base, text_mode=None, extra=[*text, *extra, "train.teacher.epochs=1", "train.fusion.epochs=1",
                                                 "train.contrastive.weight=0.5", "train.contrastive.tau=0.2"])
    assert train(cfg, out=tmp_path / "run", quiet=True)["complete"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    row = metrics["teacher"]["epochs"][0]
    assert row["train_contrastive"] > 0
    assert row["train_loss"] == pytest.approx(row["train_ce"] + 0.5 * row["train_contrastive"], rel=1e-4)
    assert "train_contrastive" not in metrics["fusion"]["epochs"][0]


@pytest.mark.parametrize("base, extra, distilled", [
    ("meld-text-accurate-base", ["encoders.text.options.cache_lower=true"], False),  # LoRA over cached states
    ("meld-text-accurate", ["encoders.text.options.cache_lower=true"], True),  # the same, taught by a run
    ("embedded-frozen", [], False),  # frozen vectors, batches of dialogues
    ("embedded-frozen", [], True),  # the same, taught by a run
    ("embedded-finetune", [], False),  # the whole text encoder fine-tuned
])
def test_rdrop_joins_every_teacher_route(accurate_run, tiny, tiny_mpnet, tmp_path, base, extra, distilled):
    """``train.rdrop`` (R-Drop's alpha) runs each teacher batch twice and adds ``alpha`` times the
    two passes' symmetric KL to their mean loss, whichever way the stage trains; it is > 0 because
    dropout differs between the passes. The fusion stage is untouched."""
    from altsa.training.pipeline import train

    text = [f"encoders.text.model={tiny_mpnet}"] if base != "embedded-frozen" else []
    taught = [f"train.distill_from={accurate_run[1]}", "train.lambda_logit=0.7", "train.lambda_feat=0.3"] if distilled else []
    cfg = tiny(base=base, text_mode=None, extra=[*text, *extra, *taught, "train.teacher.epochs=1",
                                                 "train.fusion.epochs=1", "train.rdrop=2.0"])
    assert train(cfg, out=tmp_path / "run", quiet=True)["complete"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    row = metrics["teacher"]["epochs"][0]
    assert row["train_rdrop"] > 0
    kd = 0.7 * row["train_kd_logit"] + 0.3 * row["train_kd_feature"] if distilled else 0.0
    assert (row["train_kd_logit"] > 0) == distilled
    assert row["train_loss"] == pytest.approx(row["train_ce"] + kd + 2.0 * row["train_rdrop"], rel=1e-4)
    assert "train_rdrop" not in metrics["fusion"]["epochs"][0]


def test_layer_decay_slows_the_lower_tuned_block(tiny, tiny_mpnet, tmp_path):
    """``train.teacher.layer_decay`` over the top blocks: the lower of the two tuned blocks learns
    at ``encoder_lr * decay``. With decay 1e-6 its LoRA B matrices (zero at the start) stay near
    zero while the top block's move."""
    from altsa.training.pipeline import train

    cfg = tiny(base="meld-text-accurate-base", text_mode=None, extra=[
        f"encoders.text.model={tiny_mpnet}", "encoders.text.options.cache_lower=true", "train.teacher.epochs=1",
        "train.fusion.epochs=1", "train.teacher.encoder_lr=5e-2", "train.teacher.layer_decay=1e-6"])
    assert train(cfg, out=tmp_path / "run", quiet=True)["complete"]
    weights = load_file(str(tmp_path / "run" / "text-adapter" / "adapter_model.safetensors"))
    moved = {b: max(t.abs().max().item() for k, t in weights.items() if f".layer.{b}." in k and ".lora_B." in k)
             for b in (1, 2)}  # tiny mpnet: 3 blocks, the top 2 tuned
    assert moved[2] > 1e-3
    assert moved[1] < 1e-4 * moved[2]
