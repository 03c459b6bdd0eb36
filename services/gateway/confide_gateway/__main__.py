"""`python -m confide_gateway [serve]`."""

from confide_gateway.wiring import main

if __name__ == "__main__":
    main()
