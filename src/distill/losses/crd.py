"""Contrastive representation distillation: a student embedding should pick its own example's teacher
embedding out of many others (and vice versa), scored by noise-contrastive estimation against a memory
bank holding one slowly updated embedding per training example."""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses.relations import flatten_pair


def contrast_scores(embedding: torch.Tensor, bank: torch.Tensor, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """exp(v_i . M[rows_ik] / T), (batch, 1 + K), for embeddings (batch, dim) and a bank (N, dim).

    Scored against the whole bank and then picked, which equals gathering the (batch, 1 + K, dim) rows
    first (the authors' way) with far less memory traffic when batch * (1 + K) is large against N.
    """
    return torch.exp((embedding @ bank.t()).gather(1, rows) / temperature)


def _nce_loss(scores: torch.Tensor, normaliser: float, bank_size: int, eps: float) -> torch.Tensor:
    """-(1/B) sum_i [log h_i0 + sum_k log(1 - h_ik)], h = P / (P + K/N + eps), P = scores / Z; column 0 positive."""
    p = scores / normaliser
    noise = (scores.shape[1] - 1) / bank_size  # K * P_n, P_n = 1 / N the uniform noise distribution
    log_positive = torch.log(p[:, 0] / (p[:, 0] + noise + eps))
    log_negative = torch.log(noise / (p[:, 1:] + noise + eps))
    return -(log_positive.sum() + log_negative.sum()) / len(scores)


def crd_loss(student_embedding: torch.Tensor, teacher_embedding: torch.Tensor, *, teacher_bank: torch.Tensor,
             student_bank: torch.Tensor, rows: torch.Tensor, normalisers: tuple[float, float],
             temperature: float = 0.07, eps: float = 1e-7) -> torch.Tensor:
    """L = NCE(s, M_t) + NCE(t, M_s), NCE(v, M) = -(1/B) sum_i [log h(v_i, m_i) + sum_{k=1..K} log(1 - h(v_i, m_ik))].

    Tian, Krishnan, Isola 2020, "Contrastive representation distillation". v are L2-normalised
    embeddings (batch, dim); M_t / M_s the memory banks of the other side, (N, dim), N the number of
    training examples; `rows` (batch, 1 + K) the bank rows scored, column 0 each example's own entry and
    columns 1..K negatives; h(v, m) = P / (P + K/N), P = exp(v . m / T) / Z, Z the normaliser fixed on
    the first batch (`normalisers` = (Z for the student's scores, Z for the teacher's)). The paper's total
    is CE + beta * this with beta 0.8, T 0.07, K 16384, dim 128 (its "CRD+KD" adds the KD term).
    """
    if student_embedding.shape != teacher_embedding.shape or student_embedding.dim() != 2:
        raise DistillError(f"CRD embeddings must be (batch, dim) of one shape, got student "
                           f"{tuple(student_embedding.shape)} and teacher {tuple(teacher_embedding.shape)}")
    student_scores = contrast_scores(student_embedding, teacher_bank, rows, temperature)
    teacher_scores = contrast_scores(teacher_embedding, student_bank, rows, temperature)
    return (_nce_loss(student_scores, normalisers[0], len(teacher_bank), eps)
            + _nce_loss(teacher_scores, normalisers[1], len(student_bank), eps))


def _several_ranks() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _global_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over every rank's elements (this rank's mean in one process)."""
    if not _several_ranks():
        return values.mean()
    total = torch.stack([values.sum(), values.new_tensor(values.numel())])
    dist.all_reduce(total)
    return total[0] / total[1]


def _every_rank(indices: torch.Tensor, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's bank rows and embeddings of this step, in rank order (this rank's alone in one process),
    so that under DistributedDataParallel every rank's memory bank takes every rank's update."""
    if not _several_ranks():
        return indices, embedding
    sizes = [torch.zeros(1, dtype=torch.long, device=indices.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([len(indices)], device=indices.device))
    longest = int(max(size.item() for size in sizes))
    padded_rows = F.pad(indices, (0, longest - len(indices)))
    padded = F.pad(embedding, (0, 0, 0, longest - len(indices)))
    all_rows, all_embeddings = [torch.empty_like(padded_rows) for _ in sizes], [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(all_rows, padded_rows)
    dist.all_gather(all_embeddings, padded)
    lengths = [int(size.item()) for size in sizes]
    return (torch.cat([rows[:n] for rows, n in zip(all_rows, lengths)]),
            torch.cat([values[:n] for values, n in zip(all_embeddings, lengths)]))


class CRDLoss(nn.Module):
    """Module form of `crd_loss`: the two learned linear embeddings (student and teacher features -> `dim`,
    then L2-normalised), the two memory banks (one row per training example, uniform in +-sqrt(3 / dim)
    at the start, as the authors'), the normalisers set on the first batch, and the momentum update
    m_i <- unit(momentum * m_i + (1 - momentum) * v_i) of each batch's own rows while training.

    `forward(student, teacher, indices, negatives=None)` takes the batch's row numbers in the training set
    (`indices`, (batch,)) and optionally the negatives' row numbers (batch, K); without them K rows are
    drawn uniformly from the bank (the paper's sampling; its "exact" mode passes other-class rows).
    Its parameters must be optimised with the student's. Under several processes (DistributedDataParallel)
    the normalisers are the means over every rank's first batch and every rank's banks take every rank's
    update, so the banks stay identical across ranks.
    """

    student_bank: torch.Tensor
    teacher_bank: torch.Tensor
    normalisers: torch.Tensor

    def __init__(self, student_dim: int, teacher_dim: int, bank_size: int, *, dim: int = 128,
                 negatives: int = 16384, temperature: float = 0.07, momentum: float = 0.5) -> None:
        super().__init__()
        if not 1 <= negatives < bank_size:
            raise DistillError(f"CRD negatives must be in [1, bank size {bank_size}), got {negatives}")
        if not temperature > 0.0 or not 0.0 <= momentum < 1.0:
            raise DistillError(f"CRD needs temperature > 0 and momentum in [0, 1), got {temperature} and {momentum}")
        self.bank_size, self.negatives, self.temperature, self.momentum = bank_size, negatives, temperature, momentum
        self.embed_student = nn.Linear(student_dim, dim)
        self.embed_teacher = nn.Linear(teacher_dim, dim)
        bound = 1.0 / math.sqrt(dim / 3)
        self.register_buffer("student_bank", torch.rand(bank_size, dim).mul_(2 * bound).add_(-bound))
        self.register_buffer("teacher_bank", torch.rand(bank_size, dim).mul_(2 * bound).add_(-bound))
        self.register_buffer("normalisers", torch.full((2,), -1.0))

    def _rows(self, indices: torch.Tensor, negatives: torch.Tensor | None) -> torch.Tensor:
        """(batch,) own rows and (batch, K) negatives -> (batch, 1 + K) bank row numbers."""
        if negatives is None:
            negatives = torch.randint(0, self.bank_size, (len(indices), self.negatives), device=indices.device)
        elif negatives.shape != (len(indices), self.negatives):
            raise DistillError(f"CRD negatives must be (batch, {self.negatives}), got {tuple(negatives.shape)}")
        return torch.cat([indices.unsqueeze(1), negatives], dim=1)

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor, indices: torch.Tensor,
                negatives: torch.Tensor | None = None) -> torch.Tensor:
        student, teacher = flatten_pair(student_features, teacher_features, "CRD")
        if len(student) > self.bank_size:
            raise DistillError(f"CRD batch of {len(student)} examples is larger than its memory bank of {self.bank_size}")
        if indices.shape != (len(student),) or int(indices.min()) < 0 or int(indices.max()) >= self.bank_size:
            raise DistillError(f"CRD indices must be (batch,) row numbers in [0, {self.bank_size}), "
                               f"got shape {tuple(indices.shape)}")
        v_student = F.normalize(self.embed_student(student), dim=1)  # (batch, dim)
        v_teacher = F.normalize(self.embed_teacher(teacher), dim=1)
        rows = self._rows(indices, negatives)  # (batch, 1 + K)
        with torch.no_grad():
            for side, (v, bank) in enumerate(((v_student, self.teacher_bank), (v_teacher, self.student_bank))):
                if self.normalisers[side] < 0:
                    scores = contrast_scores(v, bank, rows, self.temperature)
                    self.normalisers[side] = _global_mean(scores) * self.bank_size
        loss = crd_loss(v_student, v_teacher, teacher_bank=self.teacher_bank, student_bank=self.student_bank, rows=rows,
                        normalisers=(float(self.normalisers[0]), float(self.normalisers[1])),
                        temperature=self.temperature)
        if self.training:  # out of place: this step's graph still holds the old banks
            self.student_bank = self._updated(self.student_bank, indices, v_student)
            self.teacher_bank = self._updated(self.teacher_bank, indices, v_teacher)
        return loss

    @torch.no_grad()
    def _updated(self, bank: torch.Tensor, indices: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        indices, embedding = _every_rank(indices, embedding.detach())
        moved = bank[indices] * self.momentum + embedding * (1.0 - self.momentum)
        return bank.index_copy(0, indices, F.normalize(moved, dim=1))
