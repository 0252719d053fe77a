"""The JSON API under /api/v1, with its OpenAPI document built from the same models."""
