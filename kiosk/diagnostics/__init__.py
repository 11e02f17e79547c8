"""Measuring the app: eval on ../shared/data, benchmarks, synthetic arrivals, the self-test."""
