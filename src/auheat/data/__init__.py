"""Data: the prepared-dataset format, alignment, raw dataset readers and their preparation, real photos."""
