"""Errors a user can fix: each carries one line that names the problem and what to do."""


class UserError(Exception):
    """Bad input or state; reported as one line, without a traceback."""


class ConfigError(UserError):
    """The configuration is invalid."""


class DataError(UserError):
    """A dataset or batch cannot be used as configured."""


class ProvenanceError(UserError):
    """Results with different provenance were about to be mixed."""


class StoreError(UserError):
    """A stored result is missing, truncated or does not match the checksum it was written with."""
