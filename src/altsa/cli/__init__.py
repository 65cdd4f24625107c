"""The ``altsa`` command line."""
