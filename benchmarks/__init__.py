"""Benchmarks: scripts run by hand (see README.md); a package so that one can use another's data."""
