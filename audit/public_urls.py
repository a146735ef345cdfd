"""The public transparency page, /public/ (no login)."""

urlpatterns: list = []
