"""The seller's web app: registration, the subscription management page, the JSON API, event intake."""
