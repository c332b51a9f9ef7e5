"""The machinery every protocol shares: the cross-validated protocol (folds -> teacher -> students ->
evaluation), the Task base class it calls, the fit loop, fold-parallel training, feature hooks, statistics and
profiling. Imports data, io, models and losses; never a task or a protocol."""
