"""The domain: tenants, agreements, billing links and the rules R1-R8. Pure Python, no I/O."""
