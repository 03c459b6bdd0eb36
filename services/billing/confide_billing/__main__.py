"""`python -m confide_billing [serve|migrate]`."""

from confide_billing.wiring import SPEC
from confide_chassis.service import main

if __name__ == "__main__":
    main(SPEC)
