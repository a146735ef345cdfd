"""Routes of uniqueness reports under /api/v1/: requesting and following a report
(audit.api.views) and downloading what it found (audit.api.downloads)."""

from audit.api.downloads import urlpatterns as download_urlpatterns
from audit.api.views import urlpatterns as report_urlpatterns

urlpatterns = [*report_urlpatterns, *download_urlpatterns]
