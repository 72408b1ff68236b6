"""What a process holds between requests, and how a check that reads nothing says it needs more."""

from __future__ import annotations


class NotHeld(LookupError):
    """A check made on what was read ahead (`infra.http.store_look`) found something it does not
    hold as it now stands (a token not checked lately, a user changed since they were held): it
    must be made again the ordinary way, reading the store."""
