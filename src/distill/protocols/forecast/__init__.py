"""The forecasting protocol (covid-lstm, covid-seed): a table of daily features -> windows -> blocked or shuffled
folds with per-fold scaling -> the shared protocol -> report, figures and saved models."""
