"""`python -m confiance.cli`."""

from confiance.cli.main import main

main()
