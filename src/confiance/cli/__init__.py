"""The `confiance` command: a thin layer over :mod:`confiance.consortium`."""
