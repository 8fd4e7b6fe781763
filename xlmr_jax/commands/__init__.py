"""One module per `xlmr` subcommand: `add_arguments(parser)` and `run(parser, argv) -> exit code`."""
