"""The command line: `hpo up | worker | sweep ... | report | export | predict | storage`.

The front door: it parses, calls the layers below and turns their errors into one clear
paragraph and an exit code (errors). `python -m hpo.cli` runs it as the `hpo` script does."""

from hpo.cli.main import main

__all__ = ["main"]
