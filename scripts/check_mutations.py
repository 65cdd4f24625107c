"""Plant each wrong formula of the review list into a copy of the package and check that the
suite's maths tests fail on it (issue #11, item 6).

    .venv/bin/python scripts/check_mutations.py            # every mutation; exit 1 if one survives
    .venv/bin/python scripts/check_mutations.py --only drop-tau2,reverse-KL

Each mutation is a literal text replacement in one source file of a temporary copy of
``src/``; the tests run with that copy first on ``PYTHONPATH``. A mutation is *caught* when at
least one test fails. The working tree is never modified.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = ["tests/losses", "tests/model", "tests/training/test_stages.py", "tests/training/test_topteacher.py",
         "tests/training/test_selection_metric.py", "tests/evaluation/test_eval_metrics.py",
         "tests/evaluation/test_bootstrap.py"]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # under src/altsa/
    edits: tuple[tuple[str, str], ...]  # (text, replacement), each must occur
    tests: tuple[str, ...] = ()  # test files run besides TESTS (the place where this behaviour is pinned)


MUTATIONS = (
    Mutation("drop-tau2", "losses/relation.py",
             (("return tau**2 * (beta * inter + gamma * intra)", "return beta * inter + gamma * intra"),)),
    Mutation("swap-inter-intra-axes", "losses/relation.py",
             (("inter = 1.0 - pearson(p_s, p_t, dim=1", "inter = 1.0 - pearson(p_s, p_t, dim=0"),
              ("intra = 1.0 - pearson(p_s, p_t, dim=0", "intra = 1.0 - pearson(p_s, p_t, dim=1"))),
    Mutation("drop-tau-in-softmax", "losses/relation.py",
             (("torch.softmax(z_s / tau, dim=-1)", "torch.softmax(z_s, dim=-1)"),
              ("torch.softmax(z_t / tau, dim=-1)", "torch.softmax(z_t, dim=-1)"))),
    Mutation("SS^T-for-TS^T", "losses/similarity.py",
             (("log_q = F.log_softmax(t @ s.T / tau_f", "log_q = F.log_softmax(s @ s.T / tau_f"),)),
    Mutation("reverse-KL", "losses/similarity.py",
             (("F.kl_div(log_q, log_p,", "F.kl_div(log_p, log_q,"),)),
    Mutation("ignore-tau_f", "losses/similarity.py",
             (("t @ t.T / tau_f", "t @ t.T"), ("t @ s.T / tau_f", "t @ s.T"))),
    Mutation("keys-from-text", "model/fusion.py",
             (('torch.cat([a, v] if self.keys == "av"', 'torch.cat([t, t] if self.keys == "av"'),)),
    Mutation("no-residual", "model/fusion.py",
             (("c = self.norm(t + self.dropout(self.attention(", "c = self.norm(self.dropout(self.attention("),
              ("c = self.norm(t + self.dropout(att))", "c = self.norm(self.dropout(att))"))),
    Mutation("gate-ignores-a-and-v", "model/fusion.py",
             (("self.gate(torch.cat([c, a, v], dim=-1))", "self.gate(torch.cat([c, 0 * a, 0 * v], dim=-1))"),)),
    Mutation("removed-modality-leaks", "model/altsa.py",
             (('return tuple(out[f"h_{m[0]}"] * keep[..., k, :]', 'return tuple(out[f"h_{m[0]}"] * 1 + 0 * keep[..., k, :]'),)),
    Mutation("ensemble-averages-vectors", "losses/objectives.py",
             (("teachers = h_t.detach().unsqueeze(1) if h_t.dim() == 2 else h_t.detach()",
               "teachers = h_t.detach().unsqueeze(1) if h_t.dim() == 2 else h_t.detach().mean(1, keepdim=True)"),)),
    Mutation("ensemble-first-teacher-only", "training/textdistill.py",
             (("torch.stack(zs).mean(0)", "zs[0]"), ("torch.stack([f[k] for f in found]).mean(0)", "found[0][k]"))),
    Mutation("contrast-anchor-is-its-own-positive", "losses/contrastive.py",
             (("positive = (labels[:, None] == point_labels[None, :]) & ~self_mask",
               "positive = labels[:, None] == point_labels[None, :]"),
              ('logits = logits.masked_fill(self_mask, float("-inf"))', "logits = logits"))),
    Mutation("contrast-prototypes-out-of-the-denominator", "losses/contrastive.py",
             (("log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)",
               "log_prob = logits - torch.logsumexp(logits[:, :n], dim=1, keepdim=True)"),)),
    Mutation("contrast-sum-for-mean-over-positives", "losses/contrastive.py",
             (("/ count[anchors])", ")"),)),
    Mutation("prototype-divides-by-queue-size", "losses/contrastive.py",
             (("return sums / self.filled[seen, None].float(), seen", "return sums / self.size, seen"),)),
    Mutation("rdrop-one-way-kl", "losses/rdrop.py", (("0.5 * (kl12 + kl21).mean()", "kl12.mean()"),)),
    Mutation("rdrop-kl-summed-over-rows", "losses/rdrop.py", (("0.5 * (kl12 + kl21).mean()", "0.5 * (kl12 + kl21).sum()"),)),
    Mutation("rdrop-passes-summed", "losses/teacher.py",
             (("parts = {k: (v + second[k]) / 2 for k, v in parts.items()}",
               "parts = {k: v + second[k] for k, v in parts.items()}"),)),
    Mutation("rdrop-alpha-ignored", "losses/teacher.py",
             (('parts["loss"] = parts["loss"] + rdrop * r', 'parts["loss"] = parts["loss"] + r'),)),
    Mutation("rdrop-second-pass-reused", "losses/teacher.py",
             (("r = rdrop_loss(out.z, again.z)", "r = rdrop_loss(out.z, out.z)"),)),
    Mutation("llrd-decays-from-the-bottom", "training/loop.py",
             (("lr * decay ** (n - 1 - i) for i in range(n)", "lr * decay ** i for i in range(n)"),),
             tests=("tests/training/test_layer_decay.py",)),
    Mutation("llrd-ignored", "training/loop.py", (("    if decay == 1.0:\n        return {prefix: lr}", "    return {prefix: lr}"),),
             tests=("tests/training/test_layer_decay.py",)),
    Mutation("llrd-embeddings-at-the-top-rate", "training/loop.py",
             (("lrs.setdefault(f\"{prefix}.{name}\", lr * decay**n)", "lrs.setdefault(f\"{prefix}.{name}\", lr)"),),
             tests=("tests/training/test_layer_decay.py",)),
    Mutation("curriculum-similarity-not-distance", "training/curriculum.py",
             (("return (1.0 - torch.nn.functional.cosine_similarity(a, b, dim=-1)) / 2.0 + 1e-8",
               "return (1.0 + torch.nn.functional.cosine_similarity(a, b, dim=-1)) / 2.0 + 1e-8"),),
             tests=("tests/training/test_curriculum.py",)),
    Mutation("curriculum-own-distance-unnormalised", "training/curriculum.py",
             (("out[sel] = own / d.sum(1)", "out[sel] = own"),), tests=("tests/training/test_curriculum.py",)),
    Mutation("curriculum-centres-over-unlabelled", "training/curriculum.py",
             (("centres = torch.stack([x[y == c].mean(0) for c in classes])",
               "centres = torch.stack([h[labels == c].mean(0) if c else h[labels != 1].mean(0) for c in classes])"),),
             tests=("tests/training/test_curriculum.py",)),
    Mutation("curriculum-hard-first", "training/curriculum.py",
             (("s, t = 1.0 - epoch / epochs, epoch / epochs", "t, s = 1.0 - epoch / epochs, epoch / epochs"),),
             tests=("tests/training/test_curriculum.py",)),
    Mutation("curriculum-pace-ignores-epoch", "training/curriculum.py",
             (("s, t = 1.0 - epoch / epochs, epoch / epochs", "s, t = 1.0, 0.0"),), tests=("tests/training/test_curriculum.py",)),
    Mutation("curriculum-draw-by-threshold", "training/curriculum.py",
             (("return (torch.floor(cum - u) > torch.floor(before - u)).nonzero().flatten().tolist()",
               "return (p >= 0.5).nonzero().flatten().tolist()"),), tests=("tests/training/test_curriculum.py",)),
    Mutation("causal-sees-the-next-turn", "model/fusion.py", (("ok &= rel >= 0", "ok &= rel >= -1"),)),
    Mutation("causal-hides-the-turn-itself", "model/fusion.py", (("ok &= rel >= 0", "ok &= rel > 0"),)),
    Mutation("values-from-audio", "model/fusion.py",
             (("self._heads(self.w_v(t))", "self._heads(self.w_v(keys_in[..., : self.d]))"),)),
    Mutation("attention-unscaled", "model/fusion.py", (("q @ k.transpose(-1, -2) / math.sqrt(self.dh)", "q @ k.transpose(-1, -2)"),)),
    Mutation("fused-from-t-not-c", "model/fusion.py",
             (("return self._weigh(c, a, v, present)", "return self._weigh(t, a, v, present)"),
              ("m, w = self._weigh(c, a, v, present)", "m, w = self._weigh(t, a, v, present)"))),
    Mutation("gate-ignores-absence", "model/fusion.py",
             (("w = masked_softmax(self.gate(torch.cat([c, a, v], dim=-1)), present)",
               "w = torch.softmax(self.gate(torch.cat([c, a, v], dim=-1)), dim=-1)"),)),
    Mutation("norm-before-residual", "model/fusion.py",
             (("c = self.norm(t + self.dropout(self.attention(t, self._keys_in(t, a, v), key_ok)))",
               "c = t + self.norm(self.dropout(self.attention(t, self._keys_in(t, a, v), key_ok)))"),
              ("c = self.norm(t + self.dropout(att))", "c = t + self.norm(self.dropout(att))"))),
    Mutation("similarity-unnormalised", "losses/similarity.py",
             (("t = F.normalize(h_t, dim=-1)", "t = h_t"), ("s = F.normalize(h_s, dim=-1)", "s = h_s"))),
    Mutation("similarity-batch-sum", "losses/similarity.py", (('reduction="batchmean"', 'reduction="sum"'),)),
    Mutation("lambdas-swapped", "losses/objectives.py",
             (("hp.lambda_logit * kd_logit + hp.lambda_feat * kd_feature", "hp.lambda_feat * kd_logit + hp.lambda_logit * kd_feature"),)),
    Mutation("beta-gamma-swapped", "losses/relation.py",
             (("return tau**2 * (beta * inter + gamma * intra)", "return tau**2 * (gamma * inter + beta * intra)"),)),
    Mutation("pearson-uncentred", "losses/relation.py",
             (("xc = x - x.mean(dim, keepdim=True)", "xc = x"), ("yc = y - y.mean(dim, keepdim=True)", "yc = y"))),
    Mutation("epoch-chosen-on-macro-f1", "evaluation/metrics.py",
             (('    name: str = "weighted_f1"\n    exclude: tuple[int, ...] = ()', '    name: str = "macro_f1"\n    exclude: tuple[int, ...] = ()'),)),
    Mutation("weighted-f1-is-macro", "evaluation/metrics.py",  # the one definition selection and reports share
             (('if name == "weighted_f1":\n        return 100.0 * float(f1_score(yt, yp, labels=idx, average="weighted"',
               'if name == "weighted_f1":\n        return 100.0 * float(f1_score(yt, yp, labels=idx, average="macro"'),)),
    Mutation("class-weights-dropped", "losses/objectives.py",
             (("F.cross_entropy(logits[keep], labels[keep], weight=w,", "F.cross_entropy(logits[keep], labels[keep], weight=None,"),)),
    Mutation("sqrt-weights-not-sqrt", "losses/objectives.py", (("return balanced.sqrt()", "return balanced"),)),
    Mutation("bilstm-one-directional", "model/context.py",
             (("return LSTMContext(cfg.d, cfg.context_hidden or cfg.d // 2, cfg.context_layers, True, cfg.dropout)",
               "return LSTMContext(cfg.d, cfg.context_hidden or cfg.d // 2, cfg.context_layers, False, cfg.dropout)"),)),
    Mutation("padding-read-by-the-backward-lstm", "model/context.py",
             (("lengths = mask.sum(1).clamp(min=1).cpu()", "lengths = torch.full_like(mask.sum(1), mask.shape[1]).cpu()"),)),
    Mutation("causal-bilstm-reads-ahead", "model/context.py", (("    if cfg.causal:  # spec 3", "    if False:  # spec 3"),)),
    Mutation("telme-shift-unbounded", "model/fusion.py",
             (("alpha = torch.clamp(self.beta * t_norm / (s_norm + 1e-6), max=1.0)", "alpha = self.beta * t_norm / (s_norm + 1e-6)"),)),
    Mutation("telme-gate-blind-to-h_av", "model/fusion.py",
             (("self.gate(torch.cat([t, h_av], dim=-1))", "self.gate(torch.cat([t, 0 * h_av], dim=-1))"),)),
    Mutation("telme-no-residual", "model/fusion.py",
             (("m = self.norm(t + alpha * self.dropout(shift))", "m = self.norm(alpha * self.dropout(shift))"),)),
    Mutation("concat-drops-bias", "model/fusion.py", (("m = (sum(contrib) + self.bias)", "m = (sum(contrib))"),)),
    Mutation("student-taught-by-its-own-logits", "training/pipeline.py",
             (('targets = (z_t[sel], h_t[sel]) if hp.distill', 'targets = (out[f"z_{s}"][sel], h_t[sel]) if hp.distill'),)),
    Mutation("student-taught-by-its-own-vectors", "training/pipeline.py",
             (('targets = (z_t[sel], h_t[sel]) if hp.distill', 'targets = (z_t[sel], out[f"h_{s}"][sel]) if hp.distill'),)),
    Mutation("speaker-tags-by-name", "data/schema.py",
             (("    tags: dict[str, str] = {}\n    for u in utterances:",
               "    tags: dict[str, str] = {}\n    for u in sorted(utterances, key=lambda x: x.speaker):"),),
             ("tests/data/test_readers_meld.py",)),
    Mutation("truncation-keeps-the-start", "encoders/text.py",
             (('self.tokenizer.truncation_side = "left"', 'self.tokenizer.truncation_side = "right"'),),
             ("tests/encoders/test_text_truncation.py", "tests/encoders/test_text_encoder.py")),
    Mutation("context-chars-keep-the-start", "encoders/text.py", (("text = text[-max_chars:]", "text = text[:max_chars]"),),
             ("tests/encoders/test_text_truncation.py", "tests/encoders/test_text_encoder.py")),
    Mutation("frames-from-segment-starts", "data/media.py",
             (("return [(k + 0.5) * duration / count for k in range(count)]", "return [k * duration / count for k in range(count)]"),), ("tests/data/test_media.py",)),
    Mutation("modality-dropout-can-drop-all", "model/altsa.py",
             (("return torch.where(none_left, present, kept)", "return kept"),)),
    Mutation("modality-dropout-at-inference", "model/altsa.py",
             (("if not self.training or p <= 0:\n            return present", "if p <= 0:\n            return present"),)),
    Mutation("reported-weighted-f1-is-macro", "evaluation/metrics.py",
             (('weighted_f1=figure("weighted_f1", yt, yp, k)', 'weighted_f1=figure("macro_f1", yt, yp, k)'),)),
    Mutation("confusion-transposed", "evaluation/metrics.py",
             (("confusion=confusion_matrix(yt, yp, labels=idx)", "confusion=confusion_matrix(yp, yt, labels=idx)"),)),
    Mutation("per-class-f1-misaligned", "evaluation/metrics.py",
             (("per_class_f1={lab: 100.0 * float(f) for lab, f in zip(labels, per_class)}",
               "per_class_f1={lab: 100.0 * float(f) for lab, f in zip(labels, per_class[::-1])}"),)),
    Mutation("uar-is-macro-precision", "evaluation/metrics.py",
             (("return 100.0 * float(balanced_accuracy_score(y_true, y_pred))",
               "return 100.0 * float(balanced_accuracy_score(y_pred, y_true))"),)),
    Mutation("uar-is-accuracy", "evaluation/metrics.py",
             (("return 100.0 * float(balanced_accuracy_score(y_true, y_pred))",
               "return 100.0 * float(accuracy_score(y_true, y_pred))"),)),
    Mutation("micro-f1-is-accuracy-over-kept-rows", "evaluation/metrics.py",
             (('    return 100.0 * float(f1_score(y_true, y_pred, labels=kept, average="micro", zero_division=0))',
               "    keep = np.isin(y_true, kept)\n    return 100.0 * float(accuracy_score(y_true[keep], y_pred[keep]))"),)),
    Mutation("micro-f1-leaves-nothing-out", "evaluation/metrics.py",
             (("kept = [k for k in range(n_classes) if k not in set(exclude)]", "kept = list(range(n_classes))"),)),
    Mutation("precision-recall-swapped", "evaluation/metrics.py",
             (("precision, recall, per_class, _ = precision_recall_fscore_support(",
               "recall, precision, per_class, _ = precision_recall_fscore_support("),)),
    Mutation("selection-ignores-the-metric", "evaluation/metrics.py",
             (("return figure(self.name, yt, yp, n_classes, self.exclude)",
               'return figure("accuracy", yt, yp, n_classes, self.exclude)'),)),
    Mutation("bootstrap-resamples-utterances", "evaluation/bootstrap.py",
             (("index.setdefault(str(x), len(index)) for x in groups", "index.setdefault(str(i // 2), len(index)) for i, x in enumerate(groups)"),)),
    Mutation("bootstrap-interval-one-sided", "evaluation/bootstrap.py",
             (("q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]", "q = [0.0, 100 * level]"),)),
    Mutation("bootstrap-f1-is-precision", "evaluation/bootstrap.py",
             (("f1 = np.where(true + pred > 0, 2 * tp / (true + pred), 0.0)", "f1 = np.where(pred > 0, tp / pred, 0.0)"),)),
    Mutation("paired-draws-not-shared", "evaluation/bootstrap.py",
             (("fig_a, fig_b = _resampled([conf_a, conf_b], samples, seed, exclude)",
               "fig_a, fig_b = _resampled([conf_a], samples, seed, exclude)[0], _resampled([conf_b], samples, seed + 1, exclude)[0]"),)),
    Mutation("paired-ties-count-as-wins", "evaluation/bootstrap.py",
             (('"p_a_not_better": float((d <= 0).mean())', '"p_a_not_better": float((d < 0).mean())'),)),
    Mutation("teacher-selects-on-weighted-f1", "training/pipeline.py",
             (('return {"text": dev_score(p.labels, p.z["text"], p.present[:, 0], select)}',
               'return {"text": dev_score(p.labels, p.z["text"], p.present[:, 0])}'),)),
    Mutation("students-select-on-weighted-f1", "training/pipeline.py",
             (("return {m: dev_score(p.labels, p.z[m], p.present[:, MODALITIES.index(m)], select) for m in students}",
               "return {m: dev_score(p.labels, p.z[m], p.present[:, MODALITIES.index(m)]) for m in students}"),)),
    Mutation("fusion-selects-on-weighted-f1", "training/pipeline.py",
             (('return {"fusion": dev_score(p.labels, p.logits, metric=select),',
               'return {"fusion": dev_score(p.labels, p.logits),'),)),
    Mutation("balanced-weights-unnormalised", "losses/objectives.py",
             (("balanced = c.sum() / (len(c) * c)", "balanced = 1.0 / c"),)),
    Mutation("teacher-in-train-mode", "model/altsa.py", (("        branch.eval()\n", "        branch.train()\n"),)),
)


def run(mutation: Mutation, verbose: bool) -> tuple[bool, str]:
    """(caught, first failing test or the reason it was not caught)."""
    with tempfile.TemporaryDirectory(prefix="altsa-mutant-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        path = src / "altsa" / mutation.file
        text = path.read_text(encoding="utf-8")
        for old, new in mutation.edits:
            if text.count(old) < 1:
                return False, f"mutation does not apply: {old!r} not in {mutation.file}"
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
        check = subprocess.run([sys.executable, "-c", "import altsa, sys; print(altsa.__file__)"], env=env,
                               capture_output=True, text=True, cwd=REPO)
        if not check.stdout.strip().startswith(str(src)):
            return False, f"the mutant copy was not imported ({check.stdout.strip() or check.stderr.strip()})"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-ra", "-p", "no:cacheprovider", *TESTS, *mutation.tests],
                              env=env, capture_output=True, text=True, cwd=REPO)
        if verbose:
            print(proc.stdout[-2000:])
        lines = proc.stdout.splitlines()
        failed = [line.split(" ")[1] for line in lines if line.startswith("FAILED ")]
        errors = [line for line in lines if line.startswith("ERROR ")]
        if errors:  # a broken import or collection is not a test that noticed the formula
            return False, f"error, not a failing test: {errors[0]}"
        return bool(failed), (failed[0] if failed else f"no test failed (pytest exit {proc.returncode})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run these mutations only (names, comma-separated)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    names = set(args.only.split(",")) if args.only else None
    unknown = (names or set()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"no such mutation: {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTATIONS if names is None or m.name in names]
    survived = 0
    for m in chosen:
        caught, detail = run(m, args.verbose)
        survived += not caught
        print(f"{'caught  ' if caught else 'SURVIVED'} {m.name:<24} {detail}", flush=True)
    print(f"{len(chosen) - survived}/{len(chosen)} mutations caught by: {' '.join(TESTS)}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
