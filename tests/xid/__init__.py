"""Tests of the composition root: settings, configuration, operations, migrations, the command line."""
