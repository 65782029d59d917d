"""`python -m agencies.politie`: the politie intake service (port: KETENBUS_POLITIE_PORT)."""

from intake.serve import main

if __name__ == "__main__":
    main("politie")
