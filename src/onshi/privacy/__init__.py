"""Personal-data protection: My Number encryption and the audit log."""
