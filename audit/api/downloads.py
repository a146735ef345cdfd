"""Downloads of a report: JSON, CSV, HTML, PDF and each check's full list of findings."""

urlpatterns: list = []
