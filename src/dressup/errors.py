"""The one base class of every error DressUp reports to a user."""


class DressUpError(Exception):
    """An input or state problem with a message meant for the person who caused it."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (of the driver's error, for wrapped database errors)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
