"""Members' images (checks and fixes) and video work (PyAV)."""
