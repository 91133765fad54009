"""Executor-side numpy kernels: arrays in, arrays out, no Spark."""
