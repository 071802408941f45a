"""`python -m deconflict.cli ...`: the same as the `deconflict` command."""

from deconflict.cli import main

main()
