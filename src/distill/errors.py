"""The one error type a user can cause; the CLI prints it as one line and exits with status 2."""


class DistillError(Exception):
    """A problem in the user's input (config, data, arguments) that they can fix.

    The message is one line that names the problem, the offending value and what is allowed.
    """
