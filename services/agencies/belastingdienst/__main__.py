"""`python -m agencies.belastingdienst`: the belastingdienst intake service.

Port: 8085, declared in adapter.py (KETENBUS_ADAPTER_PORTS overrides it).
"""

from intake.serve import main

if __name__ == "__main__":
    main("belastingdienst")
