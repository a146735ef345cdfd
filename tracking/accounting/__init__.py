"""Emission accounting and green power settlement: pure calculation modules without
Django, and the models, services and selectors that persist their results."""
