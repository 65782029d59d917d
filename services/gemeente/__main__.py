"""`python -m gemeente`: the gemeente intake service (port: KETENBUS_GEMEENTE_PORT)."""

from ketenbus.adapter.serve import main

if __name__ == "__main__":
    main("gemeente")
