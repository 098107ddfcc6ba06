"""One module per ``hotline`` subcommand (see ``engine.cli``)."""
