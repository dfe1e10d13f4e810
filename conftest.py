"""pytest configuration shared by the docstring examples and the tests."""

import matplotlib

matplotlib.use("Agg")

# Importing the module would run the command line.
collect_ignore = ["skcausal_trust/__main__.py"]
