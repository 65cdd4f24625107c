"""Recordings in: speed and accuracy of transcribe and of the whole predict on a recording.

The recording is assembled here (nothing is downloaded or committed): 18 English lines of a
three-person conversation spoken by three eSpeak NG voices with 0.6-1.2 s pauses (about
60 s), so its words, speakers and boundaries are known. Measured, at one CPU thread:

- real-time factor (processing seconds / recording seconds) of ``transcribe_recording`` and
  of ``Recognizer.predict_recording`` (warm: models loaded), and of the whole
  ``altsa predict MODEL rec.wav --json --threads 1`` command (cold: a new process that
  imports, loads every model and decodes);
- word error rate (jiwer; lower-cased, punctuation removed) over the whole transcript,
  clean and with white noise (standard deviation 0.005: 26 dB SNR on the assembled recording);
- detected vs true utterances, speaker accuracy (best mapping of found to true speakers)
  with the number of speakers estimated and given, and the boundary error (|start - true|,
  |end - true| of each true utterance against the detected one overlapping it most);
- with ``--emodb``: the same segmentation and speaker figures on a recording of EmoDB clips
  (German, four speakers; tiny.en cannot transcribe German, so no word error rate).

    python benchmarks/recordings.py                 # rewrites benchmarks/results/recordings.md
    python benchmarks/recordings.py --emodb ../shared/data/emodb
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import header, write_results

LINES = [
    (0, "Morning everyone, thanks for coming in early today."),
    (1, "No problem, I brought coffee for the whole team."),
    (2, "You are a hero, I barely slept last night."),
    (0, "We need to decide on the launch date this week."),
    (1, "I think the end of the month is realistic."),
    (2, "That is too soon, the tests are still failing."),
    (0, "How many tests are still failing right now?"),
    (2, "About twenty, most of them in the payment module."),
    (1, "Can we move two people onto that problem?"),
    (0, "Yes, I will ask the mobile team to help."),
    (2, "Great, then we might finish by next Friday."),
    (1, "I am worried about the marketing budget though."),
    (0, "Let us keep the budget for the next meeting."),
    (1, "Fine, but we cannot wait much longer."),
    (2, "I will send a summary of the open issues tonight."),
    (0, "Perfect, thank you both, this was really useful."),
    (1, "See you tomorrow then."),
    (2, "Bye, and thanks again for the coffee."),
]
PAUSES = [0.6, 0.9, 1.2]


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split())


def assemble(noise: float, seed: int = 0) -> tuple[np.ndarray, list]:
    """The conversation with pauses cycling through ``PAUSES`` (built line by line)."""
    from altsa.recordings import synthetic

    rate = synthetic.RATE
    rng = np.random.default_rng(seed)
    parts, truth, at = [np.zeros(int(0.5 * rate), np.float32)], [], int(0.5 * rate)
    for i, (speaker, text) in enumerate(LINES):
        wave = synthetic.speak(text, synthetic.VOICES[speaker])
        lo, hi = synthetic._voiced(wave)
        truth.append(synthetic.Line(speaker, text, (at + lo) / rate, (at + hi) / rate))
        gap = np.zeros(int(PAUSES[i % len(PAUSES)] * rate), np.float32)
        parts += [wave, gap]
        at += wave.size + gap.size
    audio = np.concatenate(parts)
    if noise:
        audio = audio + rng.normal(0, noise, audio.size).astype(np.float32)
    return audio, truth


def match(truth: list, found: list[tuple[float, float, str]]) -> list[int | None]:
    """For each true utterance, the detected one that overlaps it most (None: none does)."""
    out = []
    for line in truth:
        overlaps = [max(0.0, min(line.end, e) - max(line.start, s)) for s, e, _ in found]
        best = int(np.argmax(overlaps)) if overlaps else -1
        out.append(best if best >= 0 and overlaps[best] > 0 else None)
    return out


def speaker_accuracy(true: list[int], found: list[str]) -> float:
    """Share of utterances whose speaker is right under the best one-to-one mapping."""
    names = sorted(set(found))
    best = 0
    for perm in itertools.permutations(range(max(len(names), max(true) + 1)), len(names)):
        mapping = dict(zip(names, perm))
        best = max(best, sum(mapping[f] == t for f, t in zip(found, true)))
    return best / len(true)


def evaluate(t, truth) -> dict:
    import jiwer

    found = [(float(u.start), float(u.end), u.speaker) for u in t.utterances]
    pairs = match(truth, found)
    matched = [(line, found[j]) for line, j in zip(truth, pairs) if j is not None]
    starts = [abs(f[0] - line.start) for line, f in matched]
    ends = [abs(f[1] - line.end) for line, f in matched]
    ref = normalise(" ".join(line.text for line in truth))
    hyp = normalise(" ".join(u.text for u in t.utterances))
    return {
        "utterances": len(t.utterances),
        "true_utterances": len(truth),
        "wer": jiwer.wer(ref, hyp),
        "speakers_found": len({u.speaker for u in t.utterances}),
        "speaker_accuracy": speaker_accuracy([line.speaker for line, _ in matched], [f[2] for _, f in matched]),
        "start_error_mean": float(np.mean(starts)), "start_error_max": float(np.max(starts)),
        "end_error_mean": float(np.mean(ends)), "end_error_max": float(np.max(ends)),
        "missed": sum(j is None for j in pairs),
    }  # fmt: skip


def timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def emodb_recording(root: Path, speakers: list[str], per_speaker: int, seed: int = 0) -> tuple[np.ndarray, list]:
    """EmoDB clips of ``speakers`` in a shuffled order, 1 s apart (their speech spans known)."""
    from altsa.data.media import MediaConfig, active_span, decode_audio
    from altsa.recordings.synthetic import Line

    rng = np.random.default_rng(seed)
    files = [p for p in sorted(root.glob("*.wav")) if p.name[:2] in speakers]
    chosen = []
    for s in speakers:
        own = [p for p in files if p.name[:2] == s]
        chosen += list(rng.choice(own, size=per_speaker, replace=False))
    rng.shuffle(chosen)
    parts, truth, at = [np.zeros(8000, np.float32)], [], 8000
    for p in chosen:
        wave = decode_audio(p, MediaConfig())
        lo, hi = active_span(wave, 16000, 1e-3)
        wave = wave[lo:hi]
        truth.append(Line(speakers.index(p.name[:2]), p.name, at / 16000, (at + wave.size) / 16000))
        parts += [wave, np.zeros(16000, np.float32)]
        at += wave.size + 16000
    return np.concatenate(parts), truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="meld-text-minilm")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--emodb", type=Path, default=None, help="EmoDB wav folder: segmentation/speaker check")
    ap.add_argument("--out", default="recordings.md")
    args = ap.parse_args()

    import torch

    from altsa.inference import Recognizer
    from altsa.recordings import RecordingConfig, synthetic, transcribe_recording

    torch.set_num_threads(args.threads)
    cfg = RecordingConfig(threads=args.threads)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        wave, truth = assemble(noise=0.0)
        path = synthetic.write(Path(tmp) / "meeting.wav", wave, rate=44100, channels=2)
        seconds = wave.size / 16000

        # cold: the whole command in a fresh process
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "altsa.cli.main", "predict", args.model, str(path), "--json",
               "--threads", str(args.threads)]
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        cold = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cold_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        cold_lines = [json.loads(line) for line in proc.stdout.splitlines()]

        # warm: models loaded, in this process
        transcribe_recording(path, cfg)  # loads Whisper, VAD, speaker encoder
        t, trans_s, trans_cpu = timed(lambda: transcribe_recording(path, cfg))
        rec = Recognizer.from_pretrained(args.model, threads=args.threads)
        rec.predict_recording(path, cfg)
        preds, pred_s, pred_cpu = timed(lambda: rec.predict_recording(path, cfg))
        results["clean"] = evaluate(t, truth)
        results["clean, speakers given"] = evaluate(transcribe_recording(path, RecordingConfig(threads=args.threads, speakers=3)), truth)
        noisy, _ = assemble(noise=0.005)
        noisy_path = synthetic.write(Path(tmp) / "noisy.wav", noisy, rate=44100, channels=2)
        snr = 10 * np.log10(np.mean(wave[wave != 0] ** 2) / 0.005**2)
        results[f"white noise, {snr:.0f} dB SNR"] = evaluate(transcribe_recording(noisy_path, cfg), truth)
        if args.emodb:
            e_wave, e_truth = emodb_recording(args.emodb, ["03", "08", "11", "14"], per_speaker=4)
            e_path = synthetic.write(Path(tmp) / "emodb.wav", e_wave)
            for name, c in (("EmoDB, 4 speakers estimated", cfg), ("EmoDB, speakers given", RecordingConfig(threads=args.threads, speakers=4))):
                ev = evaluate(transcribe_recording(e_path, c), e_truth)
                ev["wer"] = float("nan")
                results[name] = ev

    steps = ", ".join(f"{k} {v:.2f} s" for k, v in t.timings.items() if k != "total")
    lines = header(
        "Recordings: transcribe and predict on an assembled conversation",
        "a 2-core machine that may run other jobs (load average above). Target: real-time factor of "
        "`altsa predict` <= 0.5 at 1 thread on a 60 s recording.",
    )
    lines += [
        f"- recording: {len(LINES)} English lines, 3 eSpeak NG voices ({', '.join(synthetic.VOICES)}), pauses "
        f"{'/'.join(f'{p:g}' for p in PAUSES)} s, {seconds:.1f} s, written as 44.1 kHz stereo WAV",
        f"- ASR: Whisper {cfg.asr_model} (faster-whisper, {cfg.compute_type}, beam {cfg.beam_size}); model `{args.model}`; "
        f"{args.threads} thread(s)",
        "",
        "| what | wall seconds | CPU seconds | real-time factor (wall) | real-time factor (CPU) |",
        "|---|---:|---:|---:|---:|",
        f"| `transcribe_recording` (warm) | {trans_s:.2f} | {trans_cpu:.2f} | {trans_s / seconds:.3f} | {trans_cpu / seconds:.3f} |",
        f"| `Recognizer.predict_recording` (warm: transcribe + label) | {pred_s:.2f} | {pred_cpu:.2f} | {pred_s / seconds:.3f} "
        f"| {pred_cpu / seconds:.3f} |",
        f"| `{' '.join(['altsa', *cmd[3:5], 'meeting.wav', *cmd[6:]])}` (cold: new process, imports, model loads) "
        f"| {cold:.2f} | {cold_cpu:.2f} | {cold / seconds:.3f} | {cold_cpu / seconds:.3f} |",
        "",
        f"Warm transcribe by step: {steps}. The cold command printed {len(cold_lines)} JSON lines "
        f"(keys: {', '.join(sorted(cold_lines[0])) if cold_lines else '-'}).",
        "",
        "| recording | utterances found / true | missed | WER | speakers found | speaker accuracy | start error mean / max | end error mean / max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        wer = "n/a (German)" if np.isnan(r["wer"]) else f"{r['wer']:.3f}"
        lines.append(
            f"| {name} | {r['utterances']} / {r['true_utterances']} | {r['missed']} | {wer} | {r['speakers_found']} | "
            f"{r['speaker_accuracy']:.2f} | {r['start_error_mean']:.2f} / {r['start_error_max']:.2f} s | "
            f"{r['end_error_mean']:.2f} / {r['end_error_max']:.2f} s |"
        )
    lines += [
        "",
        "CPU seconds are the process's own (the cold command's: its child process's), which other jobs on "
        "the machine do not inflate; with one thread, wall time above CPU time is time spent waiting for a core.",
        "",
        "Boundary errors compare each true utterance's speech span (eSpeak's output above 1 % of full "
        "scale; EmoDB: above -60 dBFS) with the detected utterance overlapping it most; the detected span "
        "includes the VAD's 0.1 s padding. Speaker accuracy: share of utterances whose speaker is right "
        "under the best one-to-one mapping of found to true speakers.",
        "",
        "First lines of the cold command's output:",
        "",
        "```",
        *[json.dumps({k: r[k] for k in ("start", "end", "speaker", "text", "label", "confidence")}) for r in cold_lines[:3]],
        "```",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
