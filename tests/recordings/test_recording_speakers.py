"""Speaker vectors and clustering: our mel front end against librosa, our rebuilt encoder
against Resemblyzer's own, clustering on vectors with known groups."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from altsa.recordings import speakers


@pytest.fixture(scope="module")
def encoder():
    """Resemblyzer's weights in our network (skipped, saying why, where they are not installed)."""
    pytest.importorskip("faster_whisper", reason="the recordings extra is not installed")
    try:
        return speakers.load_encoder()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"resemblyzer's weights are not installed: {exc}")


def test_mel_filterbank_equals_librosa():
    librosa = pytest.importorskip("librosa", reason="librosa (audio extra) is the reference")
    ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)  # [40, 201]
    np.testing.assert_allclose(speakers.mel_filterbank().numpy(), ref, rtol=1e-5, atol=1e-8)


def test_mel_frames_equal_librosa_melspectrogram():
    librosa = pytest.importorskip("librosa", reason="librosa (audio extra) is the reference")
    wave = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    ref = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=40).T  # [frames, 40]
    ours = speakers.mel_frames(wave).numpy()
    assert ours.shape == ref.shape == (51, 40)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


def test_partials_cover_the_utterance_like_resemblyzer():
    # 1.6 s partials every 0.77 s (77 frames); a last partial under 75 % covered is dropped
    assert speakers._partials(8000) == [slice(0, 160)]  # 0.5 s: one padded partial
    # 3 s: the third partial starts at 2.464 s and 0.536 of its 1.6 s is there (91 %): kept
    assert speakers._partials(3 * 16000) == [slice(0, 160), slice(77, 237), slice(154, 314)]
    # 1.7 s: the second partial would be 58 % covered: dropped
    assert speakers._partials(27200) == [slice(0, 160)]
    assert [s.start for s in speakers._partials(10 * 16000)] == [0, 77, 154, 231, 308, 385, 462, 539, 616, 693, 770, 847]


def test_weights_load_into_our_network(encoder):
    vectors = speakers.embed([np.random.default_rng(1).normal(0, 0.1, 24000).astype(np.float32)], encoder)
    assert vectors.shape == (1, 256)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert (vectors >= 0).all()  # ReLU before the normalisation: a GE2E vector is non-negative


def test_equals_resemblyzer_voice_encoder():
    """The rebuilt encoder with our mel front end gives Resemblyzer's own vectors."""
    try:
        with warnings.catch_warnings():  # its scipy.ndimage.morphology import is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            from resemblyzer import VoiceEncoder
    except Exception as exc:  # noqa: BLE001  (resemblyzer needs webrtcvad to import)
        pytest.skip(f"resemblyzer does not import here ({type(exc).__name__}: {exc}); dev extra has webrtcvad-wheels")
    rng = np.random.default_rng(2)
    t = np.arange(40000) / 16000
    waves = [
        (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + rng.normal(0, 0.02, t.size)).astype(np.float32),
        rng.normal(0, 0.05, 9000).astype(np.float32),  # shorter than one partial
    ]
    ref = VoiceEncoder(device="cpu", verbose=False)
    ours = speakers.embed(waves)
    for wave, vector in zip(waves, ours):
        expected = ref.embed_utterance(speakers._normalise(wave))
        np.testing.assert_allclose(vector, expected, atol=1e-5)


def _groups(sizes: list[int], dim: int = 16, spread: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``len(sizes)`` orthogonal directions, shuffled."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(truth)
    x = np.eye(dim)[truth] + rng.normal(0, spread, (truth.size, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_cluster_estimates_the_number_of_speakers(k):
    x, truth = _groups([4] * k)
    labels = speakers.cluster(x, threshold=0.3)
    assert labels.max() + 1 == k and _same_partition(labels, truth)


def test_cluster_given_number_and_cap():
    x, truth = _groups([3, 3, 3])
    labels = speakers.cluster(x, speakers=3)
    assert _same_partition(labels, truth)
    assert speakers.cluster(x, speakers=1).tolist() == [0] * 9
    assert speakers.cluster(x, max_speakers=2, threshold=0.3).max() == 1  # capped
    assert speakers.cluster(x[:2], speakers=5).max() <= 1  # never more clusters than vectors
    # one voice, estimated: stays one speaker
    one, _ = _groups([6])
    assert speakers.cluster(one, threshold=0.3).tolist() == [0] * 6


def test_labels_number_speakers_by_first_appearance():
    x, _ = _groups([3, 3])
    labels = speakers.cluster(x)
    assert labels[0] == 0 and labels.max() == 1
    assert labels[np.argmax(labels == 1)] == 1 and np.all(labels[: np.argmax(labels == 1)] == 0)


def test_nearest_is_the_most_similar_centroid():
    centroids = np.array([[1.0, 0.0], [0.0, 2.0]])
    vectors = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.5]])
    assert speakers.nearest(vectors, centroids).tolist() == [0, 1, 0]


def test_embed_runs_partials_together_like_one_by_one(encoder):
    rng = np.random.default_rng(3)
    waves = [rng.normal(0, 0.1, n).astype(np.float32) for n in (5000, 30000, 16000)]
    together = speakers.embed(waves, encoder)
    alone = np.concatenate([speakers.embed([w], encoder) for w in waves])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    torch.testing.assert_close(torch.from_numpy(together).norm(dim=1), torch.ones(3))
