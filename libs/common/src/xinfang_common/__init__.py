"""Shared contracts and plumbing of the Xinfang services: the only code services share."""
