"""Benchmarks: `make bench` (python -m bench). Not run by CI; a smoke version is in tests."""
