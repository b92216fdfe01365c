"""``python -m oscar_local serve ...``."""

from oscar_local.cli import main

main()
