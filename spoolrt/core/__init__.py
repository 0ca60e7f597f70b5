"""The pure core: values, rules and codecs, no I/O and no uWSGI; every other layer builds on it.

Errors, defaults, settings, outcomes, task options, the task registries, and the spool-file
codec (``codec/``: uWSGI's packet, the signed envelope, serializers).
"""
