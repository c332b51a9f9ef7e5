"""Windows are views; blocked folds leak no day between train and test; scaling sees train rows only."""
import numpy as np
import pytest
import torch

from distill.data.windows import (
    TableScaler,
    WindowSet,
    blocked_folds,
    covered_days,
    make_folds,
    make_windows,
    rolling_origins,
    shuffled_folds,
    window_count,
)
from distill.errors import DistillError


def test_windows_are_strided_views_with_the_right_days():
    values = torch.arange(40.0).reshape(40, 1).repeat(1, 3)
    x, y = make_windows(values, values[:, 0], input_days=10, horizon=14)
    assert x.shape == (window_count(40, 10, 14), 10, 3) == (17, 10, 3)
    assert x.untyped_storage().data_ptr() == values.untyped_storage().data_ptr()
    assert torch.equal(x[5, :, 0], torch.arange(5.0, 15.0))
    assert torch.equal(y[5], torch.arange(15.0, 29.0))


def test_too_few_rows_for_one_window():
    with pytest.raises(DistillError, match="input_days \\+ horizon"):
        make_windows(torch.zeros(20, 2), torch.zeros(20), 10, 14)


@pytest.mark.parametrize("n_windows, folds", [(837, 5), (200, 3), (100, 2)])
def test_blocked_folds_share_no_day_between_train_and_test(n_windows, folds):
    span = 24
    splits = blocked_folds(n_windows, folds, span)
    tested = np.concatenate([test for _, test in splits])
    assert np.array_equal(np.sort(tested), np.arange(n_windows))
    for train, test in splits:
        assert not set(covered_days(train, span)) & set(covered_days(test, span))
        assert np.all(np.diff(test) == 1)  # contiguous


def test_shuffled_folds_reproduce_sklearn_and_do_leak():
    splits = shuffled_folds(837, 5, random_state=22)
    train, test = splits[0]
    assert len(test) in (167, 168)
    assert set(covered_days(train, 24)) & set(covered_days(test, 24))  # the seed's leak, made visible


def test_make_folds_errors():
    with pytest.raises(DistillError, match="too few"):
        make_folds(5, 5, "blocked", 24, 0)
    with pytest.raises(DistillError, match="purge"):
        make_folds(40, 5, "blocked", 24, 0)
    with pytest.raises(DistillError, match="unknown cv.split"):
        make_folds(100, 2, "random", 24, 0)


def test_scaler_fits_on_given_rows_only():
    table = np.array([[0.0, 5.0], [10.0, 5.0], [100.0, 5.0]])
    scaler = TableScaler().fit(table, rows=np.array([0, 1]))
    scaled = scaler.transform(table)
    assert scaled[1, 0] == pytest.approx(1.0)
    assert scaled[2, 0] == pytest.approx(10.0)  # test rows may leave [0, 1]: nothing was fitted on them
    assert scaler.column_range(0) == 10.0 and scaler.column_range(1) == 1.0  # constant column: unit range
    assert scaler.column_min(0) == 0.0


def test_window_set_gathers_rows_like_the_indexed_tensor_without_copying_up_front():
    windows = torch.arange(60.0).reshape(20, 3).unfold(0, 4, 1).transpose(1, 2)  # (17, 4, 3) view
    subset = WindowSet(windows, torch.tensor([2, 9, 11]))
    expected = windows[[2, 9, 11]]
    assert len(subset) == 3 and subset.shape == expected.shape
    assert subset.windows.data_ptr() == windows.data_ptr()
    assert torch.equal(subset[torch.tensor([0, 2])], expected[[0, 2]])
    assert torch.equal(subset[1], expected[1])
    assert torch.equal(subset[2, -1, 0], expected[2, -1, 0])
    assert torch.equal(torch.cat(subset.split(2)), expected)


def test_scaled_table_is_row_major_even_from_a_column_major_frame():
    """pandas hands over column-major arrays; windows gather whole days, so the scaled table must be row-major."""
    table = np.asfortranarray(np.arange(40, dtype=np.float32).reshape(10, 4))
    scaled = TableScaler().fit(table).transform(table)
    assert scaled.flags["C_CONTIGUOUS"] and scaled.dtype == np.float32
    x, _ = make_windows(torch.from_numpy(scaled), torch.from_numpy(scaled[:, 0].copy()), 3, 2)
    assert x.stride() == (4, 4, 1)  # one window = 3 consecutive rows of 4 features, contiguous in memory


def test_window_set_scaling_matches_scaling_up_front():
    """A WindowSet with a RowScaling hands out exactly what scaling every window first would (issue 11)."""
    from distill.data.window_scaling import WindowLogScaler
    from distill.data.windows import gather_rows

    rng = np.random.default_rng(0)
    windows = rng.gamma(2.0, 50.0, size=(40, 10, 3)).astype(np.float32)
    windows[:, :, 2] = 7.0  # constant: zeroed
    targets = rng.gamma(2.0, 50.0, size=(40, 4))
    fit = np.arange(0, 30)
    scaler = WindowLogScaler(0).fit(windows, targets, fit)
    assert np.array_equal(scaler.input_mean_, WindowLogScaler(0).fit(windows[fit], targets[fit]).input_mean_)
    expected = torch.from_numpy(scaler.transform_inputs(windows))
    lazy = WindowSet(torch.from_numpy(scaler.relative_inputs(windows)), torch.arange(5, 40), scaler.scaling())
    assert torch.equal(lazy[torch.arange(len(lazy))], expected[5:])
    assert torch.equal(torch.cat(lazy.split(8)), expected[5:])
    assert torch.equal(lazy[3], expected[8])
    out = torch.empty((2, 10, 3))
    assert torch.equal(gather_rows(lazy.rows(torch.tensor([1, 4])), torch.tensor([1, 0]), out), expected[[9, 6]])
    assert torch.equal(lazy.windows, torch.from_numpy(scaler.relative_inputs(windows)))  # never scaled in place


def test_rolling_origins_train_only_on_windows_that_end_before_each_fit():
    input_days, horizon = 4, 3
    starts = np.sort(np.concatenate([np.arange(100), np.arange(20, 100)]))  # two series on one calendar
    blocks = rolling_origins(starts, input_days, horizon, first_origin=70, step=5, refit_every=2)
    origins = np.concatenate([block.origins for block in blocks])
    assert origins.tolist() == list(range(70, 102, 5)) and [len(b.origins) for b in blocks] == [2, 2, 2, 1]
    for block in blocks:
        assert (starts[block.train] + input_days + horizon <= block.origins[0]).all()  # targets end before the fit
        assert (starts[block.test] + input_days == block.test_origins).all()
        assert set(block.test_origins) == set(block.origins)
        assert np.bincount(block.test_origins)[block.origins].tolist() == [2] * len(block.origins)  # both series
    shared = rolling_origins(starts, input_days, horizon, first_origin=70, step=5, refit_every=None, fits=3)
    assert [len(b.origins) for b in shared] == [3, 3, 1]
    with pytest.raises(DistillError, match="too few"):
        rolling_origins(starts, input_days, horizon, first_origin=95, step=5, refit_every=4)
