"""Benchmarks and the log simulator; a package so that tests can import `bench.feedback_logs`."""
