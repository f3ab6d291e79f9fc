"""Project commands' logic: scaffold (``init``), bundle (``build``), image, deploy, events.

Each module is called by one CLI subcommand and raises ``ProjectError`` for what the user can
get wrong; the CLI prints its message as it is.
"""
