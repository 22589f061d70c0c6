"""Command-line interface: one thin file per subcommand, no logic here."""
