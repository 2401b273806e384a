"""`make bench`: speed measurements printed as JSON lines; timings never decide a test."""
