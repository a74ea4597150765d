"""CSV and XLSX exports of the aggregates, and the annual report of Art. 41."""
