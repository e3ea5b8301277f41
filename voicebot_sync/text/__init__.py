"""Outside text made safe: redaction, per-sink escaping, and the sinks every stream and file goes through."""
