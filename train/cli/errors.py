"""The front doors' one error handler. What the program understands ends with a one-paragraph message that
names the fix, never a traceback: its own errors (zoo.errors.ZooError) and file-system errors on a named path
exit 2; Ctrl-C exits 130, the shell's code for SIGINT, after saying where the run stands. Anything else is a bug
and keeps its traceback."""
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
        return getattr(err, "exit_code", 2)
    except OSError as err:
        if err.filename is None:
            raise
        print(f"{prog}: error: {err.strerror or err} ({err.filename}); check that the path exists, that you may "
              "write there and that its disk has space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; a checkpoint is only ever replaced whole, so the last one saved is intact "
              "(--resume continues from it)", file=sys.stderr)
        return 130
