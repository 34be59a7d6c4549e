"""pfcheck: lint Postfix configuration kept in git, judged the way Postfix reads it."""

__version__ = "0.1.0"
