"""Distil a CNN teacher into an 11x smaller MLP on scikit-learn's 8x8 digits with `distill.Distiller`.

    python examples/distiller_digits.py                  # about 10 s on one CPU core
    python examples/distiller_digits.py --epochs 2       # a quick try

The teacher is any nn.Module (here trained by plain PyTorch); the Distiller freezes it, computes its outputs once
per row and trains the student on (1 - alpha) CE + alpha T^2 KL (soft targets, Hinton et al. 2015). It prints
the student's and the teacher's held-out accuracy and the student's agreement with the teacher.
"""
from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import distill
from distill.data.digits import load_digits_images
from distill.models import build_model


def train_teacher(train: TensorDataset, epochs: int) -> torch.nn.Module:
    """A small CNN trained on the labels alone."""
    teacher = build_model("cnn", (1, 8, 8), 10)
    optimizer = torch.optim.Adam(teacher.parameters(), 1e-3)
    for _ in range(epochs):
        for xb, yb in DataLoader(train, batch_size=64, shuffle=True):
            optimizer.zero_grad()
            F.cross_entropy(teacher(xb), yb).backward()
            optimizer.step()
    return teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="student epochs (the teacher trains a quarter)")
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in load_digits_images())  # (1797, 1, 8, 8), (1797,)
    train, test = TensorDataset(x[:1400], y[:1400]), TensorDataset(x[1400:], y[1400:])
    teacher = train_teacher(train, max(1, args.epochs // 4))

    student = build_model("mlp", (1, 8, 8), 10, hidden=[32])
    distiller = distill.Distiller(teacher, student, method="soft_target", temperature=4, alpha=0.9, lr=1e-2,
                                  device="cpu")
    distiller.fit(DataLoader(train, batch_size=64, shuffle=True), epochs=args.epochs,
                  val_loader=DataLoader(test, batch_size=256),
                  callbacks=[distill.EarlyStopping(monitor="val_loss", patience=5)])
    student_scores = distiller.evaluate(DataLoader(test, batch_size=256))
    teacher_scores = distiller.evaluate(DataLoader(test, batch_size=256), model="teacher")
    print(f"teacher accuracy {teacher_scores['accuracy']:.3f}")
    print(f"student accuracy {student_scores['accuracy']:.3f} (agreement with the teacher "
          f"{student_scores['agreement']:.3f})")


if __name__ == "__main__":
    main()
