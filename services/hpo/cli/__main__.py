"""`python -m hpo.cli`: how the embedded stack starts its workers."""

from hpo.cli.main import main

main()
