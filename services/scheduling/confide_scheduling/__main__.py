"""``python -m confide_scheduling [serve|migrate|seed-demo]``."""

from confide_chassis.service import main
from confide_scheduling.wiring import SPEC

if __name__ == "__main__":
    main(SPEC)
