"""GPU smoke benchmark of the paper's training run (issue #11, item 7): the paper's encoders at
real size with RANDOM weights, one optimiser step of each training stage, time and peak memory
per stage and the largest batch that fits.

Carry it to a GPU machine that reaches no package index or model hub: it needs only torch,
transformers and this project (inputs are random tensors of the paper's shapes: no media
decoding, no tokenizer, no download). Per stage, the step is the one ``altsa train paper`` runs:

- teacher: RoBERTa-large (24 x 1024) + text branch, CE, 512-token context inputs;
- students-audio: Data2VecAudio-base + branch under CE + L_rel + L_sim (the project's
  ``StudentNet`` and ``student_loss``), clips of ``--audio-seconds`` at 16 kHz;
- students-video: TimeSformer-base (8 frames, 224x224) + branch, same objective;
- fusion: the ALTSA model (d 768, cross-modal attention, gate, BiLSTM) on cached-size vectors,
  dialogues of ``--turns`` utterances.

Also printed: the clip batch that ``altsa train``'s memory probe would choose
(``altsa.training.students.clip_batch_size``) beside the largest batch found by search.

    python benchmarks/gpu_paper.py --device cuda                 # writes benchmarks/results/gpu_paper.md
    python benchmarks/gpu_paper.py --device cuda --precision fp32 --max-batch 64
    python benchmarks/gpu_paper.py --tiny --out /tmp/gpu_paper.md  # CPU, tiny sizes (the test)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a bare checkout too

from altsa.losses import DistillWeights, classification_loss, student_loss  # noqa: E402
from altsa.model import ModelConfig, build_model  # noqa: E402
from altsa.model.branches import ModalityBranch  # noqa: E402

C = 7  # MELD's emotions


@dataclass
class Sizes:
    """Architectures and input shapes: the paper's, or tiny ones for a CPU test."""

    text: dict[str, Any]
    audio: dict[str, Any]
    video: dict[str, Any]
    tokens: int
    audio_seconds: float
    frames: int
    image: int
    d: int
    heads: int
    turns: int
    batches: dict[str, int]  # the step's batch per stage (paper.yaml's, or the probe's for clips)


def paper_sizes(args) -> Sizes:
    return Sizes(
        text=dict(vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                  intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1),  # roberta-large
        audio={},  # Data2VecAudioConfig() defaults = facebook/data2vec-audio-base
        video={},  # TimesformerConfig() defaults = facebook/timesformer-base-finetuned-k400
        tokens=512, audio_seconds=args.audio_seconds, frames=8, image=224, d=768, heads=8, turns=args.turns,
        batches={"teacher": 8, "students-audio": 0, "students-video": 0, "fusion": 16},
    )


def tiny_sizes(args) -> Sizes:
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    return Sizes(
        text=dict(vocab_size=400, max_position_embeddings=130, **small),
        audio=dict(conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                   num_conv_pos_embedding_groups=2, **small),
        video=dict(image_size=32, patch_size=16, num_frames=4, **small),
        tokens=64, audio_seconds=1.0, frames=4, image=32, d=16, heads=2, turns=6,
        batches={"teacher": 2, "students-audio": 2, "students-video": 2, "fusion": 2},
    )


# -- the encoders as the project's students see them --------------------------------------------


class TensorAudio:
    """Data2VecAudio behind the interface ``StudentNet`` and the memory probe use, fed with
    tensors (``blank``: one clip of the benchmark's length) instead of decoded waveforms."""

    def __init__(self, module: nn.Module, samples: int, device: torch.device):
        self.module, self.samples, self.device = module, samples, device

    def blank(self) -> torch.Tensor:
        return torch.randn(self.samples) * 0.1

    def prepare(self, clips: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"input_values": torch.stack(clips)}  # [n, samples]

    def forward_prepared(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.module(batch["input_values"].to(self.device)).last_hidden_state  # [n, T, 768]
        return hidden.mean(1)  # the paper preset's mean pooling


class TensorVideo:
    def __init__(self, module: nn.Module, frames: int, image: int, device: torch.device):
        self.module, self.frames, self.image, self.device = module, frames, image, device

    def blank(self) -> torch.Tensor:
        return torch.randn(self.frames, 3, self.image, self.image)

    def prepare(self, clips: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.stack(clips)}  # [n, frames, 3, h, w]

    def forward_prepared(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.module(pixel_values=batch["pixel_values"].to(self.device)).last_hidden_state[:, 0]  # CLS


class TextTeacher(nn.Module):
    def __init__(self, encoder: nn.Module, branch: ModalityBranch):
        super().__init__()
        self.encoder, self.branch = encoder, branch

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        vec = hidden[:, -2]  # the prompt's last token (before </s>): the teacher's pooling
        return self.branch(vec, torch.ones(len(vec), dtype=torch.bool, device=vec.device))[1]


# -- one stage = a module, a batch maker and a loss -------------------------------------------------


@dataclass
class StageCase:
    name: str
    module: nn.Module
    batch: Callable[[int], dict[str, torch.Tensor]]  # batch size -> inputs on the device
    loss: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]
    encoder_lr: bool = True  # two parameter groups as the stage has (encoder, head)
    notes: dict[str, Any] = field(default_factory=dict)


def build_cases(sizes: Sizes, device: torch.device) -> list[StageCase]:
    from transformers import (Data2VecAudioConfig, Data2VecAudioModel, RobertaConfig, RobertaModel, TimesformerConfig,
                              TimesformerModel)

    from altsa.training.students import StudentNet

    hp = DistillWeights()  # tau 4, beta = gamma = 1, tau_f 1, lambdas 1 (paper.yaml)
    cases = []

    teacher = TextTeacher(RobertaModel(RobertaConfig(**sizes.text), add_pooling_layer=False),
                          ModalityBranch(sizes.text["hidden_size"], sizes.d, C)).to(device)

    def text_batch(n: int) -> dict[str, torch.Tensor]:
        ids = torch.randint(5, sizes.text["vocab_size"], (n, sizes.tokens), device=device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "y": torch.randint(0, C, (n,), device=device)}

    cases.append(StageCase("teacher", teacher, text_batch,
                           lambda m, b: classification_loss(m(b["input_ids"], b["attention_mask"]), b["y"])["loss"],
                           notes={"input": f"{sizes.tokens} tokens"}))

    samples = int(sizes.audio_seconds * 16000)
    audio = TensorAudio(Data2VecAudioModel(Data2VecAudioConfig(**sizes.audio)).to(device), samples, device)
    video = TensorVideo(TimesformerModel(TimesformerConfig(**sizes.video)).to(device), sizes.frames, sizes.image, device)
    for name, enc, desc in (("students-audio", audio, f"{sizes.audio_seconds:g} s at 16 kHz"),
                            ("students-video", video, f"{sizes.frames} frames {sizes.image}x{sizes.image}")):
        dim = enc.module.config.hidden_size
        net = StudentNet(enc, ModalityBranch(dim, sizes.d, C)).to(device)

        def clip_batch(n: int, enc=enc) -> dict[str, torch.Tensor]:
            g = torch.Generator().manual_seed(n)
            return {"inputs": {k: v.to(device) for k, v in enc.prepare([enc.blank() for _ in range(n)]).items()},
                    "y": torch.randint(0, C, (n,), generator=g).to(device),
                    "z_t": torch.randn(n, C, generator=g).to(device), "h_t": torch.randn(n, sizes.d, generator=g).to(device)}

        def distil(m: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
            out = m(b["inputs"])
            return student_loss(out["z"].float(), out["h"].float(), b["z_t"], b["h_t"], b["y"], hp)["loss"]

        cases.append(StageCase(name, net, clip_batch, distil, notes={"input": desc}))

    dims = {"text": sizes.text["hidden_size"], "audio": audio.module.config.hidden_size,
            "video": video.module.config.hidden_size}
    fusion = build_model(ModelConfig(d=sizes.d, heads=sizes.heads), dims, C).to(device)

    def fusion_batch(n: int) -> dict[str, torch.Tensor]:
        x = {m: torch.randn(n, sizes.turns, dim, device=device) for m, dim in dims.items()}
        x["present"] = torch.ones(n, sizes.turns, 3, dtype=torch.bool, device=device)
        x["y"] = torch.randint(0, C, (n, sizes.turns), device=device)
        return x

    def fuse(m: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        out = m(text=b["text"], audio=b["audio"], video=b["video"], present=b["present"])
        return classification_loss(out["logits"], b["y"])["loss"]

    cases.append(StageCase("fusion", fusion, fusion_batch, fuse, encoder_lr=False,
                           notes={"input": f"dialogues of {sizes.turns} utterances"}))
    return cases


# -- measuring ------------------------------------------------------------------------------------


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(case: StageCase, n: int, device: torch.device, precision: str) -> tuple[float, int]:
    """One optimiser step (forward, backward, AdamW) at batch ``n`` -> (seconds, peak bytes; 0 on a CPU)."""
    params = [p for p in case.module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    case.module.train()
    batch = case.batch(n)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    with autocast(device, precision):
        loss = case.loss(case.module, batch)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    del opt, batch, loss
    return seconds, peak


def fits(case: StageCase, n: int, device: torch.device, precision: str) -> bool:
    try:
        step(case, n, device, precision)
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        case.module.zero_grad(set_to_none=True)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def largest_batch(case: StageCase, device: torch.device, precision: str, cap: int) -> tuple[int, bool]:
    """Doubling then bisection: the largest batch whose step fits (<= cap), and whether cap bound it."""
    lo, hi = 0, 1
    while hi <= cap and fits(case, hi, device, precision):
        lo, hi = hi, hi * 2
    if lo == 0:
        return 0, False
    if hi > cap:
        return lo, True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(case, mid, device, precision) else (lo, mid)
    return lo, False


def probe_choice(case: StageCase, device: torch.device, precision: str) -> str:
    """The clip batch ``altsa train``'s memory probe would pick (GPU only)."""
    if not case.name.startswith("students") or device.type != "cuda":
        return "-"
    from altsa.training.students import clip_batch_size

    class Acc:  # the two things the probe reads from an accelerate.Accelerator
        def __init__(self):
            self.device = device

        def autocast(self):
            return autocast(device, precision)

    class Loader:
        encoder = case.module._student

    size, why = clip_batch_size(case.module, Loader(), Acc(), 0)
    return f"{size} ({why})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                        help="autocast dtype (auto: bf16 on a GPU that has it, else fp32)")
    parser.add_argument("--tiny", action="store_true", help="tiny architectures and inputs (CPU test)")
    parser.add_argument("--audio-seconds", type=float, default=10.0, help="clip length of the audio student step")
    parser.add_argument("--turns", type=int, default=24, help="utterances per dialogue in the fusion step")
    parser.add_argument("--max-batch", type=int, default=None, help="cap of the largest-batch search")
    parser.add_argument("--out", default=None, help="markdown result file (default benchmarks/results/gpu_paper.md)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from altsa.devices import resolve_device

    device = resolve_device(args.device)
    precision = args.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    sizes = tiny_sizes(args) if args.tiny else paper_sizes(args)
    cap = args.max_batch or (2 if args.tiny else 256)
    torch.manual_seed(0)
    rows = []
    for case in build_cases(sizes, device):
        n = sizes.batches[case.name]
        probe = probe_choice(case, device, precision)
        if n == 0:  # clip stages at paper size: the batch the memory probe picks (8 without a GPU)
            n = int(probe.split()[0]) if probe != "-" else 8
        try:
            step(case, n, device, precision)  # warm-up (kernels, allocator)
            seconds, peak = step(case, n, device, precision)
            timed = f"{seconds * 1000:.0f} ms"
        except torch.OutOfMemoryError:
            timed, peak = "out of memory", 0
        case.module.zero_grad(set_to_none=True)
        best, capped = largest_batch(case, device, precision, cap)
        params = sum(p.numel() for p in case.module.parameters())
        rows.append({"stage": case.name, "input": case.notes["input"], "params_m": round(params / 1e6, 3 if params < 1e6 else 1),
                     "batch": n, "step": timed, "peak_gib": round(peak / 2**30, 2) if peak else None,
                     "largest_batch": f"{'>=' if capped else ''}{best}", "probe": probe})
        print(json.dumps(rows[-1]), flush=True)
        del case
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    from _common import header, write_results

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU (CPU run)"
    total = f", {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB" if device.type == "cuda" else ""
    lines = header(
        "Paper-size training steps on one device (random weights)" + (" - TINY sizes" if args.tiny else ""),
        "random-initialised models of the paper's architectures (no download) and random input tensors "
        "(no decoding); one optimiser step per stage after a warm-up step; the largest batch is found by "
        f"doubling then bisection of full steps (cap {cap})."
    )
    lines.insert(3, f"- device: {device} ({gpu}{total}), autocast {precision}")
    lines += ["| stage | input | params | batch | step time | peak memory | largest batch | memory probe's choice |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        peak = f"{r['peak_gib']:.2f} GiB" if r["peak_gib"] is not None else "-"
        lines.append(f"| {r['stage']} | {r['input']} | {r['params_m']} M | {r['batch']} | {r['step']} | {peak} | "
                     f"{r['largest_batch']} | {r['probe']} |")
    if args.out:
        from altsa.io import atomic_write_text

        atomic_write_text(args.out, "\n".join(lines) + "\n")
        print("\n".join(lines))
    else:
        write_results("gpu_paper.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
