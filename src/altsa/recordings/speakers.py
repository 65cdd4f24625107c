"""Who speaks when: speaker vectors from Resemblyzer's pretrained voice encoder, clustered.

Resemblyzer (Apache-2.0) ships its encoder's weights in the package (``pretrained.pt``,
a GE2E speaker-verification LSTM: 40 mel bands -> 3 x LSTM 256 -> 256-d unit vector,
Wan et al. 2018). Its own ``VoiceEncoder`` module imports ``webrtcvad`` and an old
``typing`` backport (source-only packages), so the package is installed with ``--no-deps``
and the network is rebuilt here (the same layers and input as ``resemblyzer.VoiceEncoder``,
checked against it in the tests when it imports); only its weights file is read.
"""

from __future__ import annotations

import importlib.metadata as md
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from altsa.errors import ModelError

RATE = 16000
MEL_BANDS = 40
WINDOW = 400  # 25 ms FFT window
HOP = 160  # 10 ms: one mel frame per hop
PARTIAL_FRAMES = 160  # one partial utterance = 1.6 s; an utterance vector averages its partials
PARTIAL_RATE = 1.3  # partials per second (Resemblyzer's default)
MIN_COVERAGE = 0.75  # a last partial shorter than this share of 1.6 s is dropped (if not the only one)
NORM_DBFS = -30.0  # quiet audio is raised to this level first (Resemblyzer's preprocess_wav)

_ENCODER: dict[str, VoiceEncoder] = {}
_ENCODER_LOCK = threading.Lock()


class VoiceEncoder(nn.Module):
    """Resemblyzer's speaker encoder: mel frames -> unit 256-d speaker vector."""

    def __init__(self, hidden: int = 256, layers: int = 3, dim: int = 256):
        super().__init__()
        self.lstm = nn.LSTM(MEL_BANDS, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, dim)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:  # [b, frames, 40] -> [b, dim]
        _, (hidden, _) = self.lstm(mels)  # hidden: [layers, b, hidden]
        raw = torch.relu(self.linear(hidden[-1]))  # [b, dim]
        return raw / raw.norm(dim=1, keepdim=True).clamp(min=1e-12)


def weights_path() -> Path:
    try:
        dist = md.distribution("resemblyzer")
    except md.PackageNotFoundError:
        raise ModelError(
            "speaker labels need Resemblyzer's voice encoder: pip install --no-deps resemblyzer==0.1.4 "
            "(or give the number of speakers as 1)"
        ) from None
    path = Path(str(dist.locate_file("resemblyzer/pretrained.pt")))
    if not path.is_file():
        raise ModelError("resemblyzer is installed without its pretrained.pt", path=path)
    return path


def load_encoder() -> VoiceEncoder:
    """The voice encoder with Resemblyzer's weights, loaded once per process."""
    path = weights_path()
    with _ENCODER_LOCK:
        if str(path) not in _ENCODER:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in checkpoint["model_state"].items() if k.startswith(("lstm.", "linear."))}
            encoder = VoiceEncoder()
            encoder.load_state_dict(state)  # strict: every layer of ours is in the file
            _ENCODER[str(path)] = encoder.eval()
        return _ENCODER[str(path)]


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    return np.where(f < 1000.0, f / (200.0 / 3), 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m < 15.0, m * (200.0 / 3), 1000.0 * np.exp((np.log(6.4) / 27) * (m - 15.0)))


@lru_cache(maxsize=1)
def mel_filterbank() -> torch.Tensor:  # [40, 201]
    """Triangular Slaney-normalised mel filters, as ``librosa.filters.mel(sr=16000,
    n_fft=400, n_mels=40)`` builds them (librosa's first call costs seconds of lazy
    loading; this is the same arithmetic in numpy, checked against librosa in the tests)."""
    fft_hz = np.linspace(0, RATE / 2, 1 + WINDOW // 2)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), MEL_BANDS + 2))
    widths = np.diff(mel_hz)  # [42 - 1]
    ramps = mel_hz[:, None] - fft_hz[None, :]  # [42, 201]
    rising = -ramps[:-2] / widths[:-1, None]  # [40, 201]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def mel_frames(wave: np.ndarray) -> torch.Tensor:
    """Resemblyzer's input: the power (not log) 40-band mel spectrogram, ``[frames, 40]``
    (librosa's ``melspectrogram`` defaults: centred Hann frames, zero padding)."""
    spec = torch.stft(
        torch.from_numpy(np.ascontiguousarray(wave, np.float32)), n_fft=WINDOW, hop_length=HOP,
        window=torch.hann_window(WINDOW), center=True, pad_mode="constant", return_complex=True,
    ).abs().square()  # [201, frames]
    return (mel_filterbank() @ spec).T  # [frames, 40]


def _normalise(wave: np.ndarray) -> np.ndarray:
    """Raise (never lower) the level to ``NORM_DBFS``, as Resemblyzer's preprocessing does."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    if rms <= 0:
        return wave
    change = NORM_DBFS - 20 * np.log10(rms)
    return wave * np.float32(10 ** (change / 20)) if change > 0 else wave


def _partials(n_samples: int) -> list[slice]:
    """Frame slices of the 1.6 s partials covering ``n_samples`` (Resemblyzer's
    ``compute_partial_slices`` with its defaults)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = max(1, int(round(RATE / PARTIAL_RATE / HOP)))
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    coverage = (n_samples - slices[-1].start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


@torch.inference_mode()
def embed(waves: list[np.ndarray], encoder: VoiceEncoder | None = None, *, batch: int = 64) -> np.ndarray:
    """One unit speaker vector per 16 kHz waveform, ``[n, 256]``: the normalised mean of the
    vectors of its 1.6 s partials (all partials of all waves run through the LSTM together)."""
    encoder = encoder or load_encoder()
    mels, owner = [], []
    for i, wave in enumerate(waves):
        wave = _normalise(np.asarray(wave, np.float32))
        slices = _partials(wave.size)
        need = slices[-1].stop * HOP
        if need > wave.size:
            wave = np.pad(wave, (0, need - wave.size))
        frames = mel_frames(wave)  # [frames, 40]
        for s in slices:
            mels.append(frames[s])
            owner.append(i)
    if not mels:
        return np.zeros((0, encoder.linear.out_features), np.float32)
    x = torch.stack(mels)  # [partials, 160, 40]
    parts = torch.cat([encoder(x[b : b + batch]) for b in range(0, len(x), batch)])  # [partials, 256]
    sums = torch.zeros(len(waves), parts.shape[1]).index_add_(0, torch.tensor(owner), parts)  # [n, 256]
    return torch.nn.functional.normalize(sums, dim=1).numpy()


def cluster(
    vectors: np.ndarray, *, speakers: int | None = None, max_speakers: int = 8, threshold: float = 0.3
) -> np.ndarray:
    """Speaker index per vector (0, 1, ... by first appearance).

    Agglomerative clustering of cosine distances with average linkage (scikit-learn). With
    ``speakers`` given, exactly that many clusters (fewer when there are fewer vectors);
    otherwise merging stops when the closest two clusters are on average more than
    ``threshold`` apart, capped at ``max_speakers``.
    """
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1 or speakers == 1:
        return np.zeros(n, np.int64)
    if speakers is not None:
        k = min(speakers, n)
        labels = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(vectors)
    else:
        labels = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
        ).fit_predict(vectors)
        if labels.max() + 1 > max_speakers:
            labels = AgglomerativeClustering(
                n_clusters=max_speakers, metric="cosine", linkage="average"
            ).fit_predict(vectors)
    return _by_first_appearance(labels)


def _by_first_appearance(labels: np.ndarray) -> np.ndarray:
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], np.int64)


def nearest(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the most similar centroid (cosine) for each vector."""
    c = centroids / np.linalg.norm(centroids, axis=1, keepdims=True).clip(min=1e-12)
    return np.argmax(vectors @ c.T, axis=1)
