"""`python -m nla`: the nla intake service (port: KETENBUS_NLA_PORT)."""

from ketenbus.adapter.serve import main

if __name__ == "__main__":
    main("nla")
