"""Benchmark 3: bytes on disk per block, with its indexes and its share of the ledger.

``pg_total_relation_size`` counts the table, its TOAST and all its indexes (the exclusion
constraint's GiST index included). Measured twice: as the benchmarks left the tables (dead row
versions of shrunk blocks included, as a live system would carry between vacuums) and compacted
by ``VACUUM FULL`` (the floor).
"""

from __future__ import annotations

from dataclasses import dataclass

TABLES = ("tracking_block", "registry_ledgerevent")


@dataclass(frozen=True)
class TableSize:
    table: str
    rows: int
    total_bytes: int

    @property
    def bytes_per_row(self) -> float:
        return self.total_bytes / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class StorageFigures:
    block: TableSize
    ledger: TableSize

    @property
    def bytes_per_block(self) -> float:
        """Block table plus ledger, divided by blocks: what each block costs with its events."""
        if not self.block.rows:
            return 0.0
        return (self.block.total_bytes + self.ledger.total_bytes) / self.block.rows


def table_size(cursor, table: str) -> TableSize:
    cursor.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
    rows, total = cursor.fetchone()
    return TableSize(table, rows, total)


def measure(*, compact: bool = False) -> StorageFigures:
    """Sizes of the block and ledger tables now (after ``VACUUM FULL`` if ``compact``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if compact:
            for table in TABLES:
                cursor.execute(f"VACUUM FULL {table}")
        return StorageFigures(table_size(cursor, TABLES[0]), table_size(cursor, TABLES[1]))
