"""Import of CSV/XLSX exports and boundary files into the canonical tables (``python -m dashboard import``).

importer     one transaction over all files: read, check, write (the entry point)
reading      files to rows of cells: encodings, CSV dialects, XLSX, header text
specs        the importable tables: columns, types, enums, aliases, natural keys
conversion   cell values to typed values, with the reason a value is refused
job          one file under validation: header mapping, converted rows, errors
references   codes checked against the reference tables, derived columns, sanity rules
upsert       idempotent writes on the natural keys
results      what an import reports back
boundaries   real boundaries from GeoJSON or shapefiles: checked, converted, simplified per level
coords       coordinate systems to WGS 84 (pyproj; GCJ-02 by its published formula)
rollups      the dashboard's rollups brought up to date after an import
"""
