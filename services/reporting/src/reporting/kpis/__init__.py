"""The national measures (KPIs), backlog, trends and surges over the read model."""
