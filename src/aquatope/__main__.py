"""``python -m aquatope`` runs the command line."""

from aquatope.cli import main

main()
