"""``python -m chainrule`` runs the command line."""

import sys

from chainrule.cli import main

if __name__ == "__main__":
    sys.exit(main())
