"""Structured logs: every job of the code location logs JSON lines to the console (stderr).

The level is still set per run (``loggers.console.config.log_level``; the CLI's --log-level).
"""


import dagster as dg


@dg.definitions
def json_logs() -> dg.Definitions:
    return dg.Definitions(loggers={"console": dg.json_console_logger})
