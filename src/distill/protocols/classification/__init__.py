"""The classification protocol (hinton-digits, hinton-omit, kd-sweep, subclass-digits, nst-ta): labelled images ->
stratified folds -> the shared protocol with every KD method -> analyses, report, figures and saved models."""
