"""After an outage (システム障害時): patients recorded without verification, checked afterwards in one go."""
