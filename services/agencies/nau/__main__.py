"""`python -m agencies.nau`: the nau intake service (port: KETENBUS_NAU_PORT)."""

from intake.serve import main

if __name__ == "__main__":
    main("nau")
