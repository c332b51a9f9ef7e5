"""Fold-parallel training is K independent models: same outputs, same training, same results."""
import pytest
import torch

from distill.core.fold_parallel import can_stack, epoch_orders, stack_models
from distill.core.protocol import run_protocol
from distill.core.task import FoldData
from distill.models import build_model
from distill.protocols import load_config
from distill.tasks.regression import RegressionTask


@pytest.mark.parametrize("name, options", [("lstm", {"hidden": 5, "layers": 3, "head": [6, 4]}),
                                           ("mlp", {"hidden": [7, 3], "output": "sigmoid"}),
                                           ("mlp", {"hidden": []})])
def test_stacked_forward_and_unstack_match_the_fold_models(name, options):
    torch.manual_seed(0)
    models = [build_model(name, (4, 6), 3, **options) for _ in range(3)]
    stacked = stack_models(models)
    x = torch.rand(3, 5, 4, 6)
    expected = torch.stack([model(x[k]) for k, model in enumerate(models)])
    assert torch.allclose(stacked(x), expected, atol=1e-6)
    with torch.no_grad():
        for parameter in stacked.parameters():
            if parameter.requires_grad:  # the fused LSTM's frozen identity input is not a weight of any fold
                parameter.mul_(1.5)
    stacked.unstack_into(models)
    assert torch.allclose(stacked(x), torch.stack([m(x[k]) for k, m in enumerate(models)]), atol=1e-6)


def test_off_diagonal_blocks_stay_zero_under_training():
    torch.manual_seed(1)
    models = [build_model("lstm", (4, 6), 3, hidden=5, layers=2, head=[]) for _ in range(3)]
    stacked = stack_models(models)
    optimizer = torch.optim.Adam(stacked.parameters(), lr=0.1, fused=True)
    for _ in range(3):
        optimizer.zero_grad()
        stacked(torch.rand(3, 8, 4, 6)).pow(2).sum().backward()
        optimizer.step()
    fused = stacked.lstm.fused
    mask = stacked.lstm.masks["hh"].bool()
    for weight in (fused.weight_hh_l0, fused.weight_hh_l1, fused.weight_ih_l1):
        assert torch.count_nonzero(weight[~mask]) == 0 and torch.count_nonzero(weight[mask]) > 0
    assert torch.equal(fused.weight_ih_l0, torch.eye(60))


def test_only_one_supported_architecture_stacks():
    mlp = lambda width: build_model("mlp", (4, 6), 3, hidden=[width])
    assert can_stack([mlp(5), mlp(5)])
    assert not can_stack([mlp(5), mlp(6)])
    assert not can_stack([mlp(5)])
    assert not can_stack([build_model("cnn", (1, 8, 8), 3), build_model("cnn", (1, 8, 8), 3)])


def test_epoch_orders_shuffle_each_fold_and_fill_to_the_longest():
    generators = [torch.Generator().manual_seed(s) for s in (1, 2)]
    orders = epoch_orders([5, 3], generators)
    assert orders.shape == (2, 5)
    assert sorted(orders[0].tolist()) == [0, 1, 2, 3, 4]
    assert set(orders[1].tolist()) == {0, 1, 2} and orders[1, 3:].tolist() == orders[1, :2].tolist()


def folds_of_equal_size(count=2, rows=24):
    g = torch.Generator().manual_seed(3)
    folds = []
    for k in range(count):
        x, y = torch.rand(rows + 8, 4, 3, generator=g), torch.rand(rows + 8, 2, generator=g)
        folds.append(FoldData(k, x[:rows], y[:rows], x[rows:], y[rows:], torch.arange(rows, rows + 8)))
    return folds


@pytest.mark.parametrize("teacher_model", ["lstm", "mlp", "rnn"])
def test_fold_parallel_protocol_gives_the_sequential_numbers(teacher_model):
    options = {"lstm": {"hidden": 4, "layers": 2, "head": [5]}, "mlp": {"hidden": [6]},
               "rnn": {"hidden": 4, "dropout": 0.0}}[teacher_model]
    overrides = ["train.epochs=3", "train.batch_size=5", f"teacher.model={teacher_model}",
                 "students.student_kd.options.hidden=[5]", "students.student_scratch.options.hidden=[5]",
                 "students.student_kd.options.dropout=0", "students.student_scratch.options.dropout=0",
                 "teacher.ensemble=1", "teacher.blend=[]", "students.student_kd.teacher_labelled.recent=false"]  # no
    results = {}  # windows before an origin; the jittered and mixed teacher-labelled rows are stacked like the rest
    for parallel in (True, False):
        config = load_config("covid-lstm", overrides + [f"train.fold_parallel={parallel}"])
        teacher = config.teacher.model_copy(update={"options": options})
        result = run_protocol(folds_of_equal_size(), RegressionTask(), teacher, config.students, config.train,
                              config.seed, {}, latency_repeats=3, show_progress=False)
        results[parallel] = result
    for name in ("teacher", "student_kd", "student_scratch"):
        for fast, slow in zip(results[True].outcomes[name], results[False].outcomes[name]):
            assert fast.test["mse"] == pytest.approx(slow.test["mse"], rel=1e-4, abs=1e-7)
            assert fast.curves["test"] == pytest.approx(slow.curves["test"], rel=1e-4, abs=1e-7)
            terms = sorted(key for key in slow.curves if key.startswith("loss_"))  # the students' named terms
            assert terms == {"teacher": [], "student_kd": ["loss_kd"], "student_scratch": ["loss_hard"]}[name]
            assert sorted(key for key in fast.curves if key.startswith("loss_")) == terms
            for key in terms:  # one value per epoch, the same stacked as fold by fold
                assert len(slow.curves[key]) == 3
                assert fast.curves[key] == pytest.approx(slow.curves[key], rel=1e-4, abs=1e-7)


NEW_FAMILIES = [("rnn", {"hidden": 5, "dropout": 0.2}), ("rnn", {"hidden": 5, "layers": 2, "dropout": 0.3}),
                ("compact_mlp", {"hidden": [5], "dropout": 0.2, "recent": [0, 2], "recent_days": 3}),
                ("compact_mlp", {"hidden": [5, 4], "summaries": ["last"], "output": "sigmoid"})]


@pytest.mark.parametrize("name, options", NEW_FAMILIES)
def test_rnn_and_compact_mlp_stack_to_the_fold_models_outputs(name, options):
    torch.manual_seed(2)
    models = [build_model(name, (4, 6), 3, **options).eval() for _ in range(3)]
    assert can_stack(models)
    stacked = stack_models(models).eval()
    x = torch.rand(3, 5, 4, 6)
    with torch.no_grad():  # compact_mlp's own inference path (the folded view) against the stacked view
        expected = torch.stack([model(x[k]) for k, model in enumerate(models)])
    assert torch.allclose(stacked(x), expected, atol=1e-6)
    with torch.no_grad():
        for parameter in stacked.parameters():
            parameter.mul_(1.5)
    stacked.unstack_into(models)
    with torch.no_grad():
        assert torch.allclose(stacked(x), torch.stack([m(x[k]) for k, m in enumerate(models)]), atol=1e-6)
        assert not torch.allclose(stacked(x), expected, atol=1e-3)  # the round trip carried the new weights


@pytest.mark.parametrize("name, options", NEW_FAMILIES)
def test_each_fold_of_a_stack_trains_as_its_own_model(name, options):
    """Without dropout, Adam steps on the stack's summed loss give every fold the weights its own Adam gives it:
    each fold's parameters receive only their own fold's gradient."""
    options = {**options, "dropout": 0.0}
    torch.manual_seed(3)
    models = [build_model(name, (4, 6), 3, **options) for _ in range(3)]
    stacked = stack_models(models)
    x, y = torch.rand(3, 8, 4, 6), torch.rand(3, 8, 3)
    stacked_adam = torch.optim.Adam(stacked.parameters(), lr=0.05)
    fold_adams = [torch.optim.Adam(model.parameters(), lr=0.05) for model in models]
    for _ in range(5):
        stacked_adam.zero_grad()
        (3 * torch.nn.functional.mse_loss(stacked(x), y)).backward()
        stacked_adam.step()
        for k, (model, adam) in enumerate(zip(models, fold_adams)):
            adam.zero_grad()
            torch.nn.functional.mse_loss(model(x[k]), y[k]).backward()
            adam.step()
    trained = [build_model(name, (4, 6), 3, **options) for _ in range(3)]
    stacked.unstack_into(trained)
    for model, copy in zip(models, trained):
        for (key, mine), (_, theirs) in zip(model.named_parameters(), copy.named_parameters()):
            assert torch.allclose(mine, theirs, atol=1e-5), key


def test_a_stacks_gradient_stays_in_its_own_fold():
    torch.manual_seed(4)
    for name, options in NEW_FAMILIES:
        stacked = stack_models([build_model(name, (4, 6), 3, **options) for _ in range(3)])
        stacked(torch.rand(3, 5, 4, 6))[1].sum().backward()  # fold 1's outputs only
        for key, parameter in stacked.named_parameters():
            if parameter.grad is None:
                continue
            grad = parameter.grad.reshape(3, -1) if "rnn.lstms" not in key else None
            if grad is None:  # a fold's own LSTM: only fold 1's may have moved
                assert (torch.count_nonzero(parameter.grad) > 0) == key.startswith("rnn.lstms.1."), key
            else:
                assert torch.count_nonzero(grad[[0, 2]]) == 0 and torch.count_nonzero(grad[1]) > 0, key


@pytest.mark.parametrize("name, options, other", [
    ("rnn", {}, {"dropout": 0.1}),
    ("rnn", {}, {"layers": 2}),
    ("compact_mlp", {"recent": [0, 1]}, {"recent": [0, 2]}),  # same shapes, another view
    ("compact_mlp", {"recent_days": 4}, {"recent_days": 2, "recent": [0, 1]}),  # same width, another view
    ("compact_mlp", {"summaries": ["mean"]}, {"summaries": ["last"]}),
    ("compact_mlp", {}, {"output": "sigmoid"}),
    ("compact_mlp", {"dropout": 0.2}, {"dropout": 0.3})])
def test_models_with_other_options_do_not_stack(name, options, other):
    same = build_model(name, (4, 6), 3, **options)
    assert can_stack([same, build_model(name, (4, 6), 3, **options)])
    assert not can_stack([same, build_model(name, (4, 6), 3, **{**options, **other})])


def test_a_gru_or_a_highway_rnn_trains_fold_by_fold():
    for options in ({"cell": "gru"}, {"highway": 2}):
        assert not can_stack([build_model("rnn", (4, 6), 3, **options) for _ in range(2)])
