"""``python -m eval``: the same as ``rag-eval``."""

import sys

from eval.cli import main

sys.exit(main())
