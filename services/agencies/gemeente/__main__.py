"""`python -m agencies.gemeente`: the gemeente intake service (port: KETENBUS_GEMEENTE_PORT)."""

from intake.serve import main

if __name__ == "__main__":
    main("gemeente")
