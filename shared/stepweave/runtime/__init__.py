"""What runs beside deployed workflows: execution records and the block logs derived
from execution histories.

``settings`` reads the environment once; ``history`` derives block logs from a history
and a workflow manifest; ``records`` holds the DynamoDB item models and writers;
``recorder`` turns Step Functions status-change events into records; ``query`` reads
them back; ``manifests`` finds a state machine's manifest. Every AWS client is passed
in, never created at import time. Shipped in the Lambda layer (unlike ``stepweave.local``).
"""

from __future__ import annotations
