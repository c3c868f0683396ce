"""The front doors' one error handler: an error the program understands (a zoo.errors.ZooError) ends with a
one-paragraph message that names the fix and exit status 2, never a traceback."""
from __future__ import annotations

import sys
from typing import Callable


def run_command(prog: str, command: Callable[[], int | None]) -> int:
    from zoo.errors import ZooError

    try:
        return command() or 0
    except ZooError as err:
        # A KeyError's str() is its repr (quoted); its message is the first argument.
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
