"""Reports of the indicators for the union's superiors: xlsx, csv, txt."""
