"""Compute cost of the paper-sized encoders, per modality, batch 1 (spec: ALTSA.md "Encoders").

The paper's checkpoints cannot be downloaded here, so each encoder is built from its
architecture config with RANDOM weights: parameter counts, FLOPs and CPU latency depend on
the architecture and the input size only, not on the weight values. The embedded text
encoder (all-MiniLM-L6-v2's architecture) is measured the same way for comparison.

    python benchmarks/paper_compute.py            # rewrites benchmarks/results/paper_compute.md
    python benchmarks/paper_compute.py --reps 1   # quicker, noisier
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from _common import header, write_results


@dataclass
class Case:
    modality: str
    architecture: str
    input_desc: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[], dict[str, torch.Tensor]]


def roberta_large() -> torch.nn.Module:
    from transformers import RobertaConfig, RobertaModel

    cfg = RobertaConfig(  # roberta-large's published config
        vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
        intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1,
    )
    return RobertaModel(cfg, add_pooling_layer=False)


def data2vec_audio_base() -> torch.nn.Module:
    from transformers import Data2VecAudioConfig, Data2VecAudioModel

    return Data2VecAudioModel(Data2VecAudioConfig())  # defaults = facebook/data2vec-audio-base


def timesformer_base() -> torch.nn.Module:
    from transformers import TimesformerConfig, TimesformerModel

    # defaults = facebook/timesformer-base-finetuned-k400: 8 frames, 224x224, 12 layers, 768
    return TimesformerModel(TimesformerConfig())


def minilm_l6() -> torch.nn.Module:
    from transformers import BertConfig, BertModel

    cfg = BertConfig(  # sentence-transformers/all-MiniLM-L6-v2's architecture
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=512,
    )
    return BertModel(cfg, add_pooling_layer=False)


def text_inputs(tokens: int) -> Callable[[], dict[str, torch.Tensor]]:
    return lambda: {
        "input_ids": torch.randint(5, 30000, (1, tokens)),
        "attention_mask": torch.ones(1, tokens, dtype=torch.long),
    }


def audio_inputs(seconds: float) -> Callable[[], dict[str, torch.Tensor]]:
    return lambda: {"input_values": torch.randn(1, int(16000 * seconds))}


def video_inputs() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(1, 8, 3, 224, 224)}  # [batch, frames, channels, H, W]


def cases(text_tokens: list[int], audio_seconds: list[float]) -> list[Case]:
    out = [
        Case("text (teacher)", "RoBERTa-large (24 x 1024, 16 heads)", f"{n} tokens", roberta_large, text_inputs(n))
        for n in text_tokens
    ]
    out += [
        Case("audio (student)", "Data2VecAudio-base (12 x 768)", f"{s:g} s at 16 kHz", data2vec_audio_base, audio_inputs(s))
        for s in audio_seconds
    ]
    out.append(Case("video (student)", "TimeSformer-base (12 x 768)", "8 frames 224x224", timesformer_base, video_inputs))
    out.append(Case("text (embedded)", "MiniLM-L6 (6 x 384, 12 heads)", "32 tokens", minilm_l6, text_inputs(32)))
    return out


def count_flops(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> int:
    """FLOPs of one forward pass. Attention runs eagerly here because the flop counter does
    not see the fused CPU attention kernel (it would report attention as free)."""
    impl = getattr(model.config, "_attn_implementation", None)
    if impl not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(**inputs)
    if impl not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(impl)
    return counter.get_total_flops()


def time_forward(model: torch.nn.Module, inputs: dict[str, torch.Tensor], reps: int) -> list[float]:
    times = []
    with torch.inference_mode():
        model(**inputs)  # warm-up: allocator, kernels (twice: the first call after the
        model(**inputs)  # FLOP count's eager attention re-selects kernels)
        for _ in range(reps):
            t0 = time.perf_counter()
            model(**inputs)
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="timed forward passes per case (after two warm-ups)")
    ap.add_argument("--text-tokens", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--audio-seconds", type=float, nargs="+", default=[3.0, 10.0])
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--out", default="paper_compute.md")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    built: tuple[Callable, torch.nn.Module] | None = None
    for case in cases(args.text_tokens, args.audio_seconds):
        if built is None or built[0] is not case.build:
            built = None
            gc.collect()
            built = (case.build, case.build().eval())
        model = built[1]
        params = sum(p.numel() for p in model.parameters())
        inputs = case.inputs()
        flops = count_flops(model, inputs)
        times = time_forward(model, inputs, args.reps)
        med = statistics.median(times)
        rows.append((case, params, flops, med, min(times), max(times)))
        print(f"{case.modality:16s} {case.input_desc:18s} {params / 1e6:7.1f} M params "
              f"{flops / 1e9:8.1f} GFLOPs  median {med * 1e3:9.1f} ms", flush=True)

    lines = header(
        "Paper-sized encoders: compute per utterance (compute-only, random weights)",
        "random-initialised models built from the published architecture configs (no download); "
        "FLOPs and latency depend on architecture and input size only. Batch 1, CPU, "
        f"median of {args.reps} timed forward passes after two warm-ups, {torch.get_num_threads()} torch thread(s). The machine is shared "
        "with other jobs, so latency is noisy; FLOPs and parameters are exact.",
    )
    lines += [
        "| modality | architecture | input | params | GFLOPs (forward) | CPU latency median (min-max) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for case, params, flops, med, lo, hi in rows:
        lines.append(
            f"| {case.modality} | {case.architecture} | {case.input_desc} | {params / 1e6:.1f} M "
            f"| {flops / 1e9:.1f} | {med * 1e3:.0f} ms ({lo * 1e3:.0f}-{hi * 1e3:.0f}) |"
        )
    lines += [
        "",
        "Notes: the text teacher reads the conversation so far (right-truncated to 512 tokens), so "
        "in the spec's context mode a late utterance costs the 512-token row; the embedded text "
        "model reads one utterance. FLOPs count multiply-adds as 2 (torch.utils.flop_counter), "
        "attention included (counted with eager attention; timed with the default kernel).",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
