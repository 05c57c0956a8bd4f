"""Reports: result tables (Table 1, Table 2), figures and the HTML report."""
