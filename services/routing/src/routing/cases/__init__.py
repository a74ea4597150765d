"""What routing remembers per case: the petition, its unit, objections, triage, fingerprints."""
