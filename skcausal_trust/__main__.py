"""``python -m skcausal_trust audit``."""

import sys

from .cli import main

sys.exit(main())
