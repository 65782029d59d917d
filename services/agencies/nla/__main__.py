"""`python -m agencies.nla`: the nla intake service (port: KETENBUS_NLA_PORT)."""

from intake.serve import main

if __name__ == "__main__":
    main("nla")
