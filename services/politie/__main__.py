"""`python -m politie`: the politie intake service (port: KETENBUS_POLITIE_PORT)."""

from ketenbus.adapter.serve import main

if __name__ == "__main__":
    main("politie")
