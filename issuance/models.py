"""Issuance keeps no tables of its own yet: it writes the core's claims and tracking's blocks."""
