"""The ctr_models release (its own module so that ctr_models.utils can read it without importing
the package __init__, which imports ctr_models.utils)."""
__version__ = "0.1.0"
