"""Call lists to calls: campaigns, pacing, compliance (a later feature)."""
