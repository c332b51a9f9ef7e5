"""The privileged protocol (mackey-glass-pi, pm25-pi): generalized distillation with privileged time-series
information over horizons x training sizes, through the shared protocol."""
