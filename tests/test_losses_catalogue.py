"""The catalogue's losses (AT, PKT, RKD, SP, VID, CRD, DKD, DIST, logit standardisation) checked against
their authors' reference code, re-stated here in plain torch with the repository and file it comes from
(never imported into src/), to 1e-6 on random float64 inputs."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import (
    AttentionTransferLoss,
    CRDLoss,
    DISTLoss,
    DKDLoss,
    PKTLoss,
    RKDLoss,
    SimilarityPreservingLoss,
    SoftTargetLoss,
    VIDLoss,
    attention_transfer_loss,
    crd_loss,
    dist_loss,
    dkd_loss,
    pkt_loss,
    rkd_loss,
    similarity_preserving_loss,
    soft_target_loss,
    standardise_logits,
)

TOL = 1e-6


def randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def labels(batch: int, classes: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------------------
# Reference code, re-stated. megvii-research/mdistiller: mdistiller/distillers/{AT,PKT,RKD,SP,VID,CRD,DKD}.py;
# sunshangquan/logit-standardization-KD: mdistiller/distillers/{KD,DKD}.py; hunto/image_classification_sota:
# lib/models/losses/dist_kd.py (the DIST_KD repository's classification loss).

def ref_at(f_s, f_t, p=2):
    """mdistiller AT.py single_stage_at_loss."""
    def _at(feat, p):
        return F.normalize(feat.pow(p).mean(1).reshape(feat.size(0), -1))
    s_H, t_H = f_s.shape[2], f_t.shape[2]
    if s_H > t_H:
        f_s = F.adaptive_avg_pool2d(f_s, (t_H, t_H))
    elif s_H < t_H:
        f_t = F.adaptive_avg_pool2d(f_t, (s_H, s_H))
    return (_at(f_s, p) - _at(f_t, p)).pow(2).mean()


def ref_pkt(f_s, f_t, eps=1e-7):
    """mdistiller PKT.py pkt_loss."""
    f_s = f_s / (torch.sqrt(torch.sum(f_s ** 2, dim=1, keepdim=True)) + eps)
    f_s[f_s != f_s] = 0
    f_t = f_t / (torch.sqrt(torch.sum(f_t ** 2, dim=1, keepdim=True)) + eps)
    f_t[f_t != f_t] = 0
    model_similarity = (torch.mm(f_s, f_s.transpose(0, 1)) + 1.0) / 2.0
    target_similarity = (torch.mm(f_t, f_t.transpose(0, 1)) + 1.0) / 2.0
    model_similarity = model_similarity / torch.sum(model_similarity, dim=1, keepdim=True)
    target_similarity = target_similarity / torch.sum(target_similarity, dim=1, keepdim=True)
    return torch.mean(target_similarity * torch.log((target_similarity + eps) / (model_similarity + eps)))


def ref_pdist(e, squared, eps):
    """mdistiller RKD.py _pdist."""
    e_square = e.pow(2).sum(dim=1)
    prod = e @ e.t()
    res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * prod).clamp(min=eps)
    if not squared:
        res = res.sqrt()
    res = res.clone()
    res[range(len(e)), range(len(e))] = 0
    return res


def ref_rkd(f_s, f_t, squared=False, eps=1e-12, distance_weight=25, angle_weight=50):
    """mdistiller RKD.py rkd_loss."""
    stu = f_s.view(f_s.shape[0], -1)
    tea = f_t.view(f_t.shape[0], -1)
    with torch.no_grad():
        t_d = ref_pdist(tea, squared, eps)
        t_d = t_d / t_d[t_d > 0].mean()
    d = ref_pdist(stu, squared, eps)
    d = d / d[d > 0].mean()
    loss_d = F.smooth_l1_loss(d, t_d)
    with torch.no_grad():
        td = tea.unsqueeze(0) - tea.unsqueeze(1)
        norm_td = F.normalize(td, p=2, dim=2)
        t_angle = torch.bmm(norm_td, norm_td.transpose(1, 2)).view(-1)
    sd = stu.unsqueeze(0) - stu.unsqueeze(1)
    norm_sd = F.normalize(sd, p=2, dim=2)
    s_angle = torch.bmm(norm_sd, norm_sd.transpose(1, 2)).view(-1)
    loss_a = F.smooth_l1_loss(s_angle, t_angle)
    return distance_weight * loss_d + angle_weight * loss_a


def ref_sp(f_s, f_t):
    """mdistiller SP.py similarity_loss."""
    bsz = f_s.shape[0]
    f_s = f_s.view(bsz, -1)
    f_t = f_t.view(bsz, -1)
    G_s = torch.nn.functional.normalize(torch.mm(f_s, torch.t(f_s)))
    G_t = torch.nn.functional.normalize(torch.mm(f_t, torch.t(f_t)))
    G_diff = G_t - G_s
    return (G_diff * G_diff).view(-1, 1).sum(0) / (bsz * bsz)


def ref_vid(regressor, log_scale, f_s, f_t, eps=1e-5):
    """mdistiller VID.py vid_loss."""
    s_H, t_H = f_s.shape[2], f_t.shape[2]
    if s_H > t_H:
        f_s = F.adaptive_avg_pool2d(f_s, (t_H, t_H))
    elif s_H < t_H:
        f_t = F.adaptive_avg_pool2d(f_t, (s_H, s_H))
    pred_mean = regressor(f_s)
    pred_var = torch.log(1.0 + torch.exp(log_scale)) + eps
    pred_var = pred_var.view(1, -1, 1, 1).to(pred_mean)
    neg_log_prob = 0.5 * ((pred_mean - f_t) ** 2 / pred_var + torch.log(pred_var))
    return torch.mean(neg_log_prob)


def ref_vid_regressor(s, t):
    """mdistiller VID.py init_vid_modules: conv1x1(s, t), ReLU, conv1x1(t, t), ReLU, conv1x1(t, t), no bias."""
    conv1x1 = lambda i, o: nn.Conv2d(i, o, kernel_size=1, padding=0, bias=False, stride=1)
    return nn.Sequential(conv1x1(s, t), nn.ReLU(), conv1x1(t, t), nn.ReLU(), conv1x1(t, t)).double()


class RefContrastMemory(nn.Module):
    """mdistiller CRD.py ContrastMemory.forward with the negatives `idx` given (the AliasMethod draw replaced
    by the caller's indices), memory tensors supplied instead of drawn."""

    def __init__(self, memory_v1, memory_v2, K, T=0.07, momentum=0.5):
        super().__init__()
        self.K = K
        self.params = torch.tensor([K, T, -1, -1, momentum], dtype=torch.float64)
        self.memory_v1, self.memory_v2 = memory_v1.clone(), memory_v2.clone()

    def forward(self, v1, v2, y, idx):
        K = int(self.params[0].item())
        T = self.params[1].item()
        Z_v1 = self.params[2].item()
        Z_v2 = self.params[3].item()
        momentum = self.params[4].item()
        batchSize = v1.size(0)
        outputSize = self.memory_v1.size(0)
        inputSize = self.memory_v1.size(1)
        weight_v1 = torch.index_select(self.memory_v1, 0, idx.view(-1)).detach()
        weight_v1 = weight_v1.view(batchSize, K + 1, inputSize)
        out_v2 = torch.exp(torch.div(torch.bmm(weight_v1, v2.view(batchSize, inputSize, 1)), T))
        weight_v2 = torch.index_select(self.memory_v2, 0, idx.view(-1)).detach()
        weight_v2 = weight_v2.view(batchSize, K + 1, inputSize)
        out_v1 = torch.exp(torch.div(torch.bmm(weight_v2, v1.view(batchSize, inputSize, 1)), T))
        if Z_v1 < 0:
            self.params[2] = out_v1.mean() * outputSize
            Z_v1 = self.params[2].clone().detach().item()
        if Z_v2 < 0:
            self.params[3] = out_v2.mean() * outputSize
            Z_v2 = self.params[3].clone().detach().item()
        out_v1 = torch.div(out_v1, Z_v1).contiguous()
        out_v2 = torch.div(out_v2, Z_v2).contiguous()
        with torch.no_grad():
            l_pos = torch.index_select(self.memory_v1, 0, y.view(-1))
            l_pos.mul_(momentum)
            l_pos.add_(torch.mul(v1, 1 - momentum))
            l_norm = l_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            self.memory_v1.index_copy_(0, y, l_pos.div(l_norm))
            ab_pos = torch.index_select(self.memory_v2, 0, y.view(-1))
            ab_pos.mul_(momentum)
            ab_pos.add_(torch.mul(v2, 1 - momentum))
            ab_norm = ab_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            self.memory_v2.index_copy_(0, y, ab_pos.div(ab_norm))
        return out_v1, out_v2


def ref_contrast_loss(x, num_data):
    """mdistiller CRD.py ContrastLoss.forward."""
    eps = 1e-7
    bsz = x.shape[0]
    m = x.size(1) - 1
    Pn = 1 / float(num_data)
    P_pos = x.select(1, 0)
    log_D1 = torch.div(P_pos, P_pos.add(m * Pn + eps)).log_()
    P_neg = x.narrow(1, 1, m)
    log_D0 = torch.div(P_neg.clone().fill_(m * Pn), P_neg.add(m * Pn + eps)).log_()
    return -(log_D1.sum(0) + log_D0.view(-1, 1).sum(0)) / bsz


def ref_embed(linear, x):
    """mdistiller CRD.py Embed.forward (Linear, then Normalize(2): x / ||x||_2)."""
    x = linear(x.reshape(x.shape[0], -1))
    return x.div(x.pow(2).sum(1, keepdim=True).pow(1.0 / 2))


def ref_normalize(logit):
    """logit-standardization-KD mdistiller/distillers/KD.py normalize."""
    mean = logit.mean(dim=-1, keepdims=True)
    stdv = logit.std(dim=-1, keepdims=True)
    return (logit - mean) / (1e-7 + stdv)


def ref_kd(logits_student_in, logits_teacher_in, temperature, logit_stand):
    """logit-standardization-KD mdistiller/distillers/KD.py kd_loss."""
    logits_student = ref_normalize(logits_student_in) if logit_stand else logits_student_in
    logits_teacher = ref_normalize(logits_teacher_in) if logit_stand else logits_teacher_in
    log_pred_student = F.log_softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    return F.kl_div(log_pred_student, pred_teacher, reduction="none").sum(1).mean() * temperature ** 2


def ref_dkd(logits_student_in, logits_teacher_in, target, alpha, beta, temperature, logit_stand):
    """logit-standardization-KD mdistiller/distillers/DKD.py dkd_loss (mdistiller's DKD.py when logit_stand
    is False); size_average=False is reduction="sum"."""
    logits_student = ref_normalize(logits_student_in) if logit_stand else logits_student_in
    logits_teacher = ref_normalize(logits_teacher_in) if logit_stand else logits_teacher_in
    gt_mask = torch.zeros_like(logits_student).scatter_(1, target.reshape(-1).unsqueeze(1), 1).bool()
    other_mask = torch.ones_like(logits_student).scatter_(1, target.reshape(-1).unsqueeze(1), 0).bool()

    def cat_mask(t, mask1, mask2):
        return torch.cat([(t * mask1).sum(dim=1, keepdims=True), (t * mask2).sum(1, keepdims=True)], dim=1)

    pred_student = cat_mask(F.softmax(logits_student / temperature, dim=1), gt_mask, other_mask)
    pred_teacher = cat_mask(F.softmax(logits_teacher / temperature, dim=1), gt_mask, other_mask)
    tckd_loss = F.kl_div(torch.log(pred_student), pred_teacher, reduction="sum") * temperature ** 2 / target.shape[0]
    pred_teacher_part2 = F.softmax(logits_teacher / temperature - 1000.0 * gt_mask, dim=1)
    log_pred_student_part2 = F.log_softmax(logits_student / temperature - 1000.0 * gt_mask, dim=1)
    nckd_loss = (F.kl_div(log_pred_student_part2, pred_teacher_part2, reduction="sum") * temperature ** 2
                 / target.shape[0])
    return alpha * tckd_loss + beta * nckd_loss


def ref_dist(z_s, z_t, beta=1.0, gamma=1.0, tau=1.0, softmax=True):
    """hunto/image_classification_sota lib/models/losses/dist_kd.py DIST.forward (softmax=False: the same
    relations on z / tau, this library's regression form)."""
    def cosine_similarity(a, b, eps=1e-8):
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)

    def pearson_correlation(a, b, eps=1e-8):
        return cosine_similarity(a - a.mean(1).unsqueeze(1), b - b.mean(1).unsqueeze(1), eps)

    def inter_class_relation(y_s, y_t):
        return 1 - pearson_correlation(y_s, y_t).mean()

    def intra_class_relation(y_s, y_t):
        return inter_class_relation(y_s.transpose(0, 1), y_t.transpose(0, 1))

    y_s = (z_s / tau).softmax(dim=1) if softmax else z_s / tau
    y_t = (z_t / tau).softmax(dim=1) if softmax else z_t / tau
    return beta * tau ** 2 * inter_class_relation(y_s, y_t) + gamma * tau ** 2 * intra_class_relation(y_s, y_t)


# ---------------------------------------------------------------------------------------------------------
# AT

@pytest.mark.parametrize("student_size, teacher_size, p", [(8, 8, 2), (8, 4, 2), (4, 8, 2), (6, 6, 4)])
def test_attention_transfer_matches_mdistiller(student_size, teacher_size, p):
    f_s, f_t = randn(6, 5, student_size, student_size, seed=1), randn(6, 9, teacher_size, teacher_size, seed=2)
    expected = ref_at(f_s, f_t, p).item()
    assert attention_transfer_loss(f_s, f_t, p=p).item() == pytest.approx(expected, abs=TOL)
    assert AttentionTransferLoss(p=p)(f_s, f_t).item() == pytest.approx(expected, abs=TOL)


def test_attention_transfer_on_sequences_is_the_image_form_of_width_one():
    f_s, f_t = randn(4, 3, 12, seed=3), randn(4, 7, 12, seed=4)
    expected = ref_at(f_s.unsqueeze(3), f_t.unsqueeze(3)).item()
    assert attention_transfer_loss(f_s, f_t).item() == pytest.approx(expected, abs=TOL)


# PKT, RKD, SP: also on regression outputs of different widths

@pytest.mark.parametrize("student_shape, teacher_shape", [((16, 8), (16, 32)), ((16, 1), (16, 4)),
                                                          ((10, 3, 2, 2), (10, 5))])
def test_pkt_matches_mdistiller(student_shape, teacher_shape):
    f_s, f_t = randn(*student_shape, seed=5), randn(*teacher_shape, seed=6)
    expected = ref_pkt(f_s.flatten(1).clone(), f_t.flatten(1).clone()).item()
    assert pkt_loss(f_s, f_t).item() == pytest.approx(expected, abs=TOL)
    assert PKTLoss()(f_s, f_t).item() == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("squared, distance_weight, angle_weight", [(False, 25, 50), (True, 1, 0), (False, 0, 2)])
@pytest.mark.parametrize("student_shape, teacher_shape", [((12, 8), (12, 20)), ((12, 2), (12, 7)),
                                                          ((8, 4, 3, 3), (8, 6))])
def test_rkd_matches_mdistiller(squared, distance_weight, angle_weight, student_shape, teacher_shape):
    f_s, f_t = randn(*student_shape, seed=7), randn(*teacher_shape, seed=8, scale=3.0)
    expected = ref_rkd(f_s, f_t, squared, 1e-12, distance_weight, angle_weight).item()
    got = rkd_loss(f_s, f_t, distance_weight=distance_weight, angle_weight=angle_weight, squared=squared)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = RKDLoss(distance_weight=distance_weight, angle_weight=angle_weight, squared=squared)
    assert module(f_s, f_t).item() == pytest.approx(expected, abs=TOL)


def test_rkd_gradient_matches_mdistiller_and_the_teacher_gets_none():
    f_t = randn(10, 6, seed=9).requires_grad_()
    ours, theirs = randn(10, 3, seed=10).requires_grad_(), randn(10, 3, seed=10).requires_grad_()
    rkd_loss(ours, f_t).backward()
    ref_rkd(theirs, f_t.detach()).backward()
    assert torch.allclose(ours.grad, theirs.grad, atol=TOL)
    assert f_t.grad is None or not f_t.grad.any()


def test_rkd_of_a_single_example_is_zero_not_nan():
    assert rkd_loss(randn(1, 4), randn(1, 4, seed=1)).item() == 0.0


@pytest.mark.parametrize("student_shape, teacher_shape", [((8, 16, 4, 4), (8, 32, 2, 2)), ((20, 1), (20, 3))])
def test_sp_matches_mdistiller(student_shape, teacher_shape):
    f_s, f_t = randn(*student_shape, seed=11), randn(*teacher_shape, seed=12)
    expected = ref_sp(f_s, f_t).item()
    assert similarity_preserving_loss(f_s, f_t).item() == pytest.approx(expected, abs=TOL)
    assert SimilarityPreservingLoss()(f_s, f_t).item() == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("loss", [pkt_loss, similarity_preserving_loss, rkd_loss])
def test_relational_losses_train_a_forecaster_towards_its_teacher(loss):
    """A linear one-output regressor fitted by a relational loss alone comes to rank examples as its teacher."""
    torch.manual_seed(0)
    x = torch.randn(64, 5, dtype=torch.float64)
    teacher = x @ torch.tensor([[1.0, -2.0, 0.5, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5, 0.5]], dtype=torch.float64).t()
    student = nn.Linear(5, 2).double()
    optimiser = torch.optim.Adam(student.parameters(), lr=0.05)
    before = loss(student(x), teacher).item()
    for _ in range(200):
        optimiser.zero_grad()
        loss(student(x), teacher).backward()
        optimiser.step()
    assert loss(student(x), teacher).item() < 0.2 * before


# VID

@pytest.mark.parametrize("student_size, teacher_size", [(4, 4), (8, 4), (2, 4)])
def test_vid_matches_mdistiller(student_size, teacher_size):
    torch.manual_seed(0)
    f_s, f_t = randn(5, 6, student_size, student_size, seed=13), randn(5, 3, teacher_size, teacher_size, seed=14)
    ours = VIDLoss(6, 3).double()
    with torch.no_grad():
        ours.log_scale.add_(randn(3, seed=15))
    regressor = ref_vid_regressor(6, 3)
    regressor.load_state_dict(ours.regressor.state_dict())
    expected = ref_vid(regressor, ours.log_scale.detach(), f_s, f_t).item()
    assert ours(f_s, f_t).item() == pytest.approx(expected, abs=TOL)


def test_vid_starts_with_the_variance_mdistiller_initialises():
    init_pred_var, eps = 5.0, 1e-5
    log_scale = math.log(math.exp(init_pred_var - eps) - 1.0)  # mdistiller VID.py init_vid_modules
    assert torch.allclose(VIDLoss(4, 3).log_scale.double(), torch.full((3,), log_scale, dtype=torch.float64))
    variance = F.softplus(VIDLoss(4, 3).log_scale) + eps
    assert torch.allclose(variance, torch.full((3,), init_pred_var), atol=1e-5)


def test_vid_on_vectors_learns_its_variance():
    torch.manual_seed(0)
    vid = VIDLoss(4, 2, spatial_dims=0)
    loss = vid(torch.randn(8, 4), torch.randn(8, 2))
    loss.backward()
    assert vid.log_scale.grad is not None and vid.log_scale.grad.abs().sum() > 0


# CRD

def test_crd_matches_mdistiller_over_two_steps_with_its_memory_updates():
    torch.manual_seed(0)
    batch, bank, k, student_dim, teacher_dim = 6, 40, 7, 10, 14
    ours = CRDLoss(student_dim, teacher_dim, bank, dim=8, negatives=k).double()
    memory = RefContrastMemory(ours.student_bank, ours.teacher_bank, k)
    for step in range(2):
        f_s, f_t = randn(batch, student_dim, seed=20 + step), randn(batch, teacher_dim, seed=30 + step)
        y = torch.randperm(bank, generator=torch.Generator().manual_seed(step))[:batch]
        negatives = torch.randint(0, bank, (batch, k), generator=torch.Generator().manual_seed(10 + step))
        v1, v2 = ref_embed(ours.embed_student, f_s), ref_embed(ours.embed_teacher, f_t)
        out_v1, out_v2 = memory(v1, v2, y, torch.cat([y.unsqueeze(1), negatives], dim=1))
        expected = (ref_contrast_loss(out_v1, bank) + ref_contrast_loss(out_v2, bank)).item()
        assert ours(f_s, f_t, y, negatives).item() == pytest.approx(expected, abs=TOL)
        assert torch.allclose(ours.student_bank, memory.memory_v1, atol=TOL)
        assert torch.allclose(ours.teacher_bank, memory.memory_v2, atol=TOL)
        assert ours.normalisers.tolist() == pytest.approx(memory.params[2:4].tolist(), rel=1e-9)


def test_crd_function_is_the_reference_nce_on_the_gathered_rows():
    s, t = F.normalize(randn(4, 8, seed=1), dim=1), F.normalize(randn(4, 8, seed=2), dim=1)
    bank_t, bank_s = F.normalize(randn(30, 8, seed=3), dim=1), F.normalize(randn(30, 8, seed=4), dim=1)
    rows = torch.randint(0, 30, (4, 6))
    loss = crd_loss(s, t, teacher_bank=bank_t, student_bank=bank_s, rows=rows, normalisers=(3.0, 4.0))
    gathered = lambda bank: bank[rows.flatten()].view(4, 6, 8)  # the reference's index_select of the rows
    scores = lambda v, bank, z: torch.exp(torch.bmm(gathered(bank), v.unsqueeze(2)) / 0.07).squeeze(2) / z
    expected = ref_contrast_loss(scores(s, bank_t, 3.0), 30) + ref_contrast_loss(scores(t, bank_s, 4.0), 30)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-9)


def test_crd_draws_negatives_and_trains_its_embeddings():
    torch.manual_seed(0)
    crd = CRDLoss(5, 7, 50, dim=4, negatives=10)
    loss = crd(torch.randn(8, 5), torch.randn(8, 7), torch.arange(8))
    loss.backward()
    assert torch.isfinite(loss) and crd.embed_student.weight.grad.abs().sum() > 0


# DKD, DIST, logit standardisation

@pytest.mark.parametrize("alpha, beta, temperature", [(1.0, 8.0, 4.0), (0.5, 2.0, 1.0), (1.0, 0.0, 2.0)])
@pytest.mark.parametrize("standardise", [False, True])
def test_dkd_matches_the_authors_code(alpha, beta, temperature, standardise):
    s, t, y = randn(16, 10, seed=40, scale=2.0), randn(16, 10, seed=41, scale=4.0), labels(16, 10, seed=42)
    expected = ref_dkd(s, t, y, alpha, beta, temperature, standardise).item()
    got = dkd_loss(s, t, y, tckd_weight=alpha, nckd_weight=beta, temperature=temperature, standardise=standardise)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = DKDLoss(tckd_weight=alpha, nckd_weight=beta, temperature=temperature, standardise=standardise)
    assert module(s, t, y).item() == pytest.approx(expected, abs=TOL)


def test_dkd_is_kd_when_the_non_target_term_is_weighted_by_the_teachers_doubt():
    """Zhao et al.'s identity: KD = TCKD + (1 - p_t,y) NCKD per example (eq. 2 of the paper)."""
    s, t, y = randn(1, 6, seed=43), randn(1, 6, seed=44), labels(1, 6, seed=45)
    doubt = 1.0 - F.softmax(t, dim=1)[0, y].item()
    decoupled = dkd_loss(s, t, y, tckd_weight=1.0, nckd_weight=doubt, temperature=1.0)
    assert decoupled.item() == pytest.approx(ref_kd(s, t, 1.0, False).item(), abs=TOL)


@pytest.mark.parametrize("beta, gamma, tau", [(1.0, 1.0, 1.0), (2.0, 0.5, 4.0), (0.0, 1.0, 2.0)])
def test_dist_matches_the_authors_code(beta, gamma, tau):
    s, t = randn(16, 10, seed=50, scale=2.0), randn(16, 10, seed=51, scale=4.0)
    expected = ref_dist(s, t, beta, gamma, tau).item()
    assert dist_loss(s, t, inter_weight=beta, intra_weight=gamma, temperature=tau).item() == pytest.approx(expected, abs=TOL)
    module = DISTLoss(inter_weight=beta, intra_weight=gamma, temperature=tau)
    assert module(s, t).item() == pytest.approx(expected, abs=TOL)


def test_dist_with_standardisation_is_dist_of_standardised_logits():
    s, t = randn(12, 6, seed=52), randn(12, 6, seed=53, scale=5.0)
    expected = ref_dist(ref_normalize(s), ref_normalize(t), tau=2.0).item()
    assert dist_loss(s, t, temperature=2.0, standardise=True).item() == pytest.approx(expected, abs=TOL)


def test_dist_on_forecasts_ignores_scale_and_offset():
    """Regression form: (batch, horizon) forecasts; a student that is the teacher scaled and shifted has
    correlation 1 both ways, and the loss equals the reference relations applied to raw outputs."""
    teacher = randn(32, 7, seed=54)
    assert dist_loss(3.0 * teacher + 2.0, teacher, probabilities=False).item() == pytest.approx(0.0, abs=1e-7)
    student = randn(32, 7, seed=55)
    expected = ref_dist(student, teacher, softmax=False).item()
    assert dist_loss(student, teacher, probabilities=False).item() == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("temperature, alpha", [(2.0, 0.9), (4.0, 0.5)])
def test_soft_target_standardised_matches_the_authors_kd(temperature, alpha):
    s, t, y = randn(16, 10, seed=60, scale=2.0), randn(16, 10, seed=61, scale=4.0), labels(16, 10, seed=62)
    expected = ((1 - alpha) * F.cross_entropy(s, y) + alpha * ref_kd(s, t, temperature, True)).item()
    got = soft_target_loss(s, t, y, temperature=temperature, alpha=alpha, standardise=True)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = SoftTargetLoss(temperature=temperature, alpha=alpha, standardise=True)
    assert module(s, t, y).item() == pytest.approx(expected, abs=TOL)
    plain = ((1 - alpha) * F.cross_entropy(s, y) + alpha * ref_kd(s, t, temperature, False)).item()
    assert soft_target_loss(s, t, y, temperature=temperature, alpha=alpha).item() == pytest.approx(plain, abs=TOL)


def test_standardised_logits_match_the_authors_normalize():
    z = randn(5, 9, seed=63, scale=3.0)
    assert torch.allclose(standardise_logits(z), ref_normalize(z), atol=1e-12)


# Bad input: one line each

BAD_INPUTS = [
    (lambda: attention_transfer_loss(randn(4, 8), randn(4, 8)), "feature maps"),
    (lambda: attention_transfer_loss(randn(4, 3, 5, 5), randn(3, 3, 5, 5)), "batch size mismatch"),
    (lambda: pkt_loss(randn(4, 3), randn(5, 3)), "batch size mismatch"),
    (lambda: rkd_loss(randn(8), randn(8)), "(batch, features)"),
    (lambda: similarity_preserving_loss(randn(4, 3), randn(6, 3)), "batch size mismatch"),
    (lambda: dkd_loss(randn(4, 5), randn(4, 6), labels(4, 5)), "class count mismatch"),
    (lambda: dist_loss(randn(4, 5), randn(4, 6)), "one (batch, outputs) shape"),
    (lambda: VIDLoss(3, 3)(randn(4, 3), randn(4, 3)), "rank-4 features"),
    (lambda: CRDLoss(3, 3, 4, dim=2, negatives=2)(torch.randn(6, 3), torch.randn(6, 3), torch.arange(6)),
     "larger than its memory bank"),
    (lambda: CRDLoss(3, 3, 10, dim=2, negatives=2)(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 10])),
     "row numbers in [0, 10)"),
    (lambda: CRDLoss(3, 3, 10, negatives=16384), "negatives must be in"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_is_one_line(call, message):
    with pytest.raises(DistillError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


# The student learns through the gradients: they match the reference code's too

GRADIENT_CASES = {
    "at": (lambda s, t: attention_transfer_loss(s, t), lambda s, t: ref_at(s, t), (4, 3, 6, 6), (4, 5, 3, 3)),
    "pkt": (lambda s, t: pkt_loss(s, t), lambda s, t: ref_pkt(s.clone(), t.clone()), (12, 5), (12, 9)),
    "sp": (lambda s, t: similarity_preserving_loss(s, t), lambda s, t: ref_sp(s, t).squeeze(), (8, 4, 2, 2), (8, 7)),
    "dist": (lambda s, t: dist_loss(s, t, temperature=4.0), lambda s, t: ref_dist(s, t, tau=4.0), (16, 10), (16, 10)),
    "dkd": (lambda s, t: dkd_loss(s, t, labels(16, 10, seed=70), standardise=True),
            lambda s, t: ref_dkd(s, t, labels(16, 10, seed=70), 1.0, 8.0, 4.0, True), (16, 10), (16, 10)),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_student_gradient_matches_the_authors_code(name):
    ours_fn, ref_fn, student_shape, teacher_shape = GRADIENT_CASES[name]
    teacher = randn(*teacher_shape, seed=71, scale=2.0)
    ours, theirs = randn(*student_shape, seed=72).requires_grad_(), randn(*student_shape, seed=72).requires_grad_()
    ours_fn(ours, teacher).backward()
    ref_fn(theirs, teacher).backward()
    assert torch.allclose(ours.grad, theirs.grad, atol=TOL)


# CRD's memory bank across processes (DistributedDataParallel splits each batch among the ranks)

def _crd_step(crd: CRDLoss, rows: slice) -> None:
    f_s, f_t = randn(8, 5, seed=80)[rows], randn(8, 7, seed=81)[rows]
    indices = torch.arange(0, 16, 2)[rows]  # (8,) distinct bank rows
    negatives = torch.randint(0, 20, (8, 4), generator=torch.Generator().manual_seed(82))[rows]
    crd(f_s, f_t, indices, negatives)


def _crd_rank(out_dir: str) -> None:
    """One of 2 processes: the bank after one step on its half of the batch must equal one process's on all."""
    import json
    from pathlib import Path

    from distill.core.distributed import current_world, init_from_env

    torch.manual_seed(0)
    alone = CRDLoss(5, 7, 20, dim=3, negatives=4).double()
    together = CRDLoss(5, 7, 20, dim=3, negatives=4).double()
    together.load_state_dict(alone.state_dict())
    _crd_step(alone, slice(None))
    world = init_from_env(torch.device("cpu"))
    _crd_step(together, slice(world.rank, None, world.size))
    differences = {key: float((alone.state_dict()[key] - value).abs().max())
                   for key, value in together.state_dict().items()}
    Path(out_dir, f"rank{current_world().rank}.json").write_text(json.dumps(differences))


def test_crd_banks_stay_identical_across_two_processes(tmp_path):
    import json

    from distill.core.distributed import launch

    launch(_crd_rank, 2, str(tmp_path))
    for rank in range(2):
        differences = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert set(differences) >= {"student_bank", "teacher_bank", "normalisers"}
        assert max(differences.values()) < TOL, differences  # the normalisers: sums in another order
