"""Every list is paginated, at most 1,000 rows a page.

Growing tables (the ledger, blocks) use cursor pagination: no COUNT(*) and no OFFSET scan, so a
page costs the same at the end of a billion rows as at the start.
"""

from rest_framework.pagination import CursorPagination, PageNumberPagination

MAX_PAGE_SIZE = 1000


class PagePagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class IdCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "id"


class NewestFirstCursorPagination(IdCursorPagination):
    ordering = "-id"
