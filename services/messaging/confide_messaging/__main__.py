"""``python -m confide_messaging [serve|migrate|rotate-kek|reply-overdue-once]``."""

from confide_chassis.service import main
from confide_messaging.wiring import SPEC

if __name__ == "__main__":
    main(SPEC)
