"""
juego's tests (run with trial). Hypothesis profiles: C{dev} (default) and C{ci}, chosen by
C{HYPOTHESIS_PROFILE}.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
