"""``python -m dressup.cli``."""

from . import main

main()
