"""`python -m confide_compliance [serve|migrate|seed-demo|expiry-watch-once]`."""

from confide_chassis.service import main
from confide_compliance.wiring import SPEC

if __name__ == "__main__":
    main(SPEC)
