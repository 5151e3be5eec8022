"""`python -m app [FILE ...]` opens the desktop app (same as `albert-lens [FILE ...]`)."""

import sys

from app.main import main

sys.exit(main())
