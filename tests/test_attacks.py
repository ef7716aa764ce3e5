"""
Every attack of docs/SECURITY.md, replayed as an attacker would try it (real processes,
concurrent bursts, the browser where the attack needs them), each asserting its outcome.

The suites live in C{tests/attacks/}, one module per surface; this module is the one
place trial finds them (their modules are not named C{test_*}, so nothing runs twice).
"""

from __future__ import annotations

from tests.attacks.accounts import (
    AccountAttackTests,
)
from tests.attacks.certification import (
    CertificationAttackTests,
    OCRAttackTests,
    PostgresCertificationAttackTests,
    PostgresConcurrentNodesTests,
    SQLiteConcurrentNodesTests,
)
from tests.attacks.inputs import (
    InputAttackTests,
    OpenRedirectTests,
)
from tests.attacks.ranking import (
    AdminReviewTests,
    PostgresAdminReviewTests,
    RankingAttackTests,
)
from tests.attacks.services import (
    DefaultInstallTests,
    InsecureTests,
)

__all__ = [
    "AccountAttackTests",
    "RankingAttackTests",
    "AdminReviewTests",
    "PostgresAdminReviewTests",
    "CertificationAttackTests",
    "PostgresCertificationAttackTests",
    "SQLiteConcurrentNodesTests",
    "PostgresConcurrentNodesTests",
    "OCRAttackTests",
    "DefaultInstallTests",
    "InsecureTests",
    "InputAttackTests",
    "OpenRedirectTests",
]
