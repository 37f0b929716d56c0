"""Adapters for the routes open clinic software (myclinic-ts) already calls."""
