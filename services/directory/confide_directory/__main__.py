"""`python -m confide_directory [serve|migrate|seed-demo]`."""

from confide_chassis.service import main
from confide_directory.wiring import SPEC

if __name__ == "__main__":
    main(SPEC)
