"""Put ``examples/`` first on ``sys.path``, as ``python examples/<script>.py`` does.

The example scripts import their helpers as siblings (``from randman import make_randman``), so
the tests import them the same way.
"""

import sys
from pathlib import Path

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")
if sys.path[:1] != [EXAMPLES]:
    sys.path.insert(0, EXAMPLES)
