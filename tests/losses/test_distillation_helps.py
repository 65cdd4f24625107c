"""Distillation on synthetic data: the teacher sees the label cleanly, the student a noisy
view with noisy training labels. The distilled student (CE + relation + similarity) must beat
the CE-only student on clean held-out labels, on average over seeds."""

import torch

from altsa.losses import DistillWeights, classification_loss, student_loss
from altsa.model.branches import ModalityBranch

C, D_T, D_S, D = 4, 16, 32, 16


def make_data(seed: int, n: int):
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(C, D_T, generator=g) * 2.0
    mix = torch.randn(D_T, D_S, generator=g) / D_T**0.5
    y = torch.randint(0, C, (n,), generator=g)
    text = protos[y] + 0.3 * torch.randn(n, D_T, generator=g)  # the teacher's view: clean
    audio = (protos[y] @ mix) + 1.5 * torch.randn(n, D_S, generator=g)  # the student's: noisy
    noisy_y = torch.where(torch.rand(n, generator=g) < 0.5, torch.randint(0, C, (n,), generator=g), y)
    return text, audio, y, noisy_y


def train_student(distill: bool, seed: int) -> float:
    text, audio, y, noisy_y = make_data(seed, 400)
    train, test = slice(0, 150), slice(150, 400)
    torch.manual_seed(seed)
    teacher = ModalityBranch(D_T, D, C, dropout=0.0)
    student = ModalityBranch(D_S, D, C, dropout=0.0)
    ones = torch.ones(150, dtype=torch.bool)
    opt = torch.optim.Adam(teacher.parameters(), lr=1e-2)
    for _ in range(40):  # teacher: CE on the (noisy) labels, but its view separates classes well
        opt.zero_grad()
        classification_loss(teacher(text[train], ones)[1], noisy_y[train])["loss"].backward()
        opt.step()
    teacher.requires_grad_(False)
    with torch.no_grad():
        h_t, z_t = teacher(text[train], ones)
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    hp = DistillWeights(distill=distill)
    for _ in range(80):
        opt.zero_grad()
        h_s, z_s = student(audio[train], ones)
        student_loss(z_s, h_s, z_t, h_t, noisy_y[train], hp)["loss"].backward()
        opt.step()
    with torch.no_grad():
        _, z = student(audio[test], torch.ones(250, dtype=torch.bool))
    return (z.argmax(-1) == y[test]).float().mean().item()


def test_distilled_student_beats_ce_only():
    seeds = range(3)
    distilled = sum(train_student(True, s) for s in seeds) / len(seeds)
    ce_only = sum(train_student(False, s) for s in seeds) / len(seeds)
    assert distilled > ce_only + 0.03, (distilled, ce_only)
