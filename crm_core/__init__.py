"""The CRM domain: tables, repositories and services."""
