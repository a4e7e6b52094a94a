"""Tests of the composition root: settings, configuration, operations."""
