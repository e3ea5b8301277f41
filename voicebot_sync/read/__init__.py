"""The repository side: the YAML reader, schemas, discovery, definitions and settings."""
