"""Where the 4M reference fixtures live, for every test module that reads them.

``$OMNIMASK_REFERENCE_FIXTURES`` or ``<repo>/../shared/fixtures/reference-4m`` (CI's layout). A plain
module (not a fixture) because several harnesses parametrize over the case files at collection time.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("OMNIMASK_REFERENCE_FIXTURES", REPO.parent / "shared" / "fixtures" / "reference-4m"))
SKIP_REASON = f"4M reference fixtures not found at {FIXTURES} (set OMNIMASK_REFERENCE_FIXTURES to their directory)"
