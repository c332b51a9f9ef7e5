"""The lupi-synthetic protocol: the four synthetic experiments of Lopez-Paz et al. 2016 (`experiments`), trained
as the authors' Keras code trains them (`trainer`; its docstring says why this protocol does not use the shared
fit loop). Its statistics are over independent repetitions with the paper's standard deviation (`summarise`,
`paired_difference`), not over folds as in `distill.core.stats`; `check_settings` validates the arguments of
`run_lupi_synthetic` for library use, where the config schema does not run."""
