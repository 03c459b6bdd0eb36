"""`python -m confide_identity [serve|migrate|create-practice|seed-demo]`."""

from __future__ import annotations

from confide_chassis.service import main
from confide_identity.wiring import SPEC

if __name__ == "__main__":
    main(SPEC)
