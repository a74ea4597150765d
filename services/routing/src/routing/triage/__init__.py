"""The manual triage queue over HTTP."""
