"""pytest fixtures that run throw-away Tollgate servers; see the plugin module for the fixtures."""

from .admin import AdminApi, TollgateApiError
from .faults import FaultRule, Faults, Journal, JournalEntry
from .server import AdminCredentials, EphemeralServer, TollgateServer, TollgateStartError, bundled_binary

__all__ = [
    "AdminApi",
    "AdminCredentials",
    "EphemeralServer",
    "FaultRule",
    "Faults",
    "Journal",
    "JournalEntry",
    "TollgateApiError",
    "TollgateServer",
    "TollgateStartError",
    "bundled_binary",
]
