"""One file per schema revision, oldest first; never edited once released."""
