"""Writing to disk, the same way for every protocol: atomic writes and downloads, checkpoints, the run writer
(models -> figures -> config.yaml -> report.md -> results.json last), report text and plotting helpers."""
