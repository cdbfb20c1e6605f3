"""Prefect flows: thin wiring of pv/ into scheduled runs.

Importing this package sets quiet, local Prefect defaults (ecosystem.md §1) unless the user set them:
no analytics or telemetry, PREFECT_HOME inside the project, and an ephemeral-server start-up timeout that
a busy machine can meet.
"""

import os
from pathlib import Path

for _name, _value in {
    "PREFECT_HOME": str(Path(__file__).resolve().parent.parent / ".prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}.items():
    os.environ.setdefault(_name, _value)
