"""The neutral core: settings, the error tree and its rendering, identity, metrics.

It imports nothing of ours; every other package may import it.
"""
