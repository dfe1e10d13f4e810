"""pytest configuration shared by the docstring examples and the tests."""

import os

# One thread per BLAS / OpenMP pool: on a loaded 2-core machine, histogram
# gradient boosting's threads otherwise oversubscribe the cores (measured:
# 141 s instead of 2 s for one decomposition).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

# Importing the module would run the command line.
collect_ignore = ["skcausal_trust/__main__.py"]
