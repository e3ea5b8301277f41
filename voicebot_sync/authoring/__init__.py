"""Writing definition files: init, new and export."""
