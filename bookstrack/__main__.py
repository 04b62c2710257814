"""``python -m bookstrack`` is the ``bookstrack`` command."""

import sys

from bookstrack.cli import main

sys.exit(main())
