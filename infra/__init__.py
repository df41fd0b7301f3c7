"""The Stepweave CDK app: ``python -m infra.app`` (or ``cdk synth``) builds it."""

from __future__ import annotations

import os
from pathlib import Path

# jsii starts Node when ``aws_cdk`` is first imported; Node 20 would print an
# end-of-life banner on every synth. Every module of this package is imported
# after this line, so the variable is set before the first ``aws_cdk`` import.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

#: The repository root (``cdk.json``, ``functions/``, ``shared/``, ``workflows/``).
ROOT = Path(__file__).resolve().parent.parent
