"""Reports of the indicators for the union's superiors: xlsx, csv, png, txt (``export``), and
the breakdown by every unit of a scope they can rest on (``tree``)."""
