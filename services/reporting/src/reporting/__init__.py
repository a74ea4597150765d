"""Xinfang reporting: aggregate read models of petition cases, fed from Kafka."""
