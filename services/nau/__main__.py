"""`python -m nau`: the nau intake service (port: KETENBUS_NAU_PORT)."""

from ketenbus.adapter.serve import main

if __name__ == "__main__":
    main("nau")
