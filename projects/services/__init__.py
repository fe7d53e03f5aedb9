"""Write operations on projects, one module per sub-domain. Import from the sub-modules."""
