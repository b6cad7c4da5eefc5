"""The test suite's guard against traffic beyond loopback."""
