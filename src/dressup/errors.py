"""The one base class of every error DressUp reports to a user."""


class DressUpError(Exception):
    """An input or state problem with a message meant for the person who caused it."""
