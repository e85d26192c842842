"""Parsers from real log formats to the normalised event schema.

Every line is either parsed or kept in quarantine with its file, line number
and reason; nothing disappears.
"""

from confiance.ingest.geo import DEMO_GEO, GeoTable, Place
from confiance.ingest.parsers import PARSERS, Parser, parser_for
from confiance.ingest.reader import ParsedFile, QuarantinedLine, parse_file

__all__ = [
    "DEMO_GEO",
    "PARSERS",
    "GeoTable",
    "ParsedFile",
    "Parser",
    "Place",
    "QuarantinedLine",
    "parse_file",
    "parser_for",
]
