"""Where tenant rows live. All SQL of the product is here or in resources/sql."""
