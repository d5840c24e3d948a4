"""What is read: files to lint, their text and encodings, notebooks, the project root and its requirements."""
