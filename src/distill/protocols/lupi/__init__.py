"""The lupi-synthetic protocol: the four synthetic experiments of Lopez-Paz et al. 2016 with the authors' own
Keras-faithful training (`trainer`; its docstring says why it does not use the shared fit loop)."""
