"""Emission accounting and green power settlement (issue 7): pure calculation modules without
Django, and the models, services and selectors that persist their results."""
