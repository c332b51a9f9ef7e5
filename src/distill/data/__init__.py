"""Data sources, one module each, and the windowing, splitting and scaling shared by every time series."""
