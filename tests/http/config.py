"""config.py: the binary and database the suite runs against (set by run.py)."""
BINARY = "build/vocero"
DATABASE = "sqlite"
