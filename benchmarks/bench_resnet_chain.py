"""Time one training step (forward + backward + SGD update) for each ResNet of the NST-TA chain.

Plans the nst-ta recipe: teacher resnet152 -> assistants 101, 50, 34 -> student resnet18, all at
width 0.125 on 1x32x32 images (digits resized), batch 64, 10 classes, on this CPU.
Usage: python benchmarks/bench_resnet_chain.py [--width 0.125] [--size 32] [--batch 64] [--repeats 3] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from distill.models import build_model

CHAIN = (152, 101, 50, 34, 18)


def step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> float:
    """Fastest wall time of `repeats` SGD steps after a warm-up step (the least disturbed by other load)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, args.size, args.size)  # (batch, 1, size, size)
    y = torch.randint(0, 10, (args.batch,))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, width {args.width}, "
          f"input 1x{args.size}x{args.size}, batch {args.batch}")
    print(f"{'depth':>5} {'params':>10} {'step s':>8}")
    for depth in CHAIN:
        model = build_model("resnet", (1, args.size, args.size), 10, depth=depth, width=args.width)
        params = sum(p.numel() for p in model.parameters())
        print(f"{depth:>5} {params:>10,} {step_seconds(model, x, y, args.repeats):>8.3f}")


if __name__ == "__main__":
    main()
