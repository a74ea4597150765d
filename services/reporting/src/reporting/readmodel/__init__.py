"""The read model: one row of facts per case, built from the event streams."""
