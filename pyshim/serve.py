"""`python -m pyshim.serve`: the short name of `python -m pyshim.tools.serve` (make serve)."""
import sys

from .tools.serve import main

if __name__ == "__main__":
    sys.exit(main())
